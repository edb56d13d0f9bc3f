// optbench dashboard: live job states and hover readouts. Served from the coordinator's binary;
// no libraries, nothing loaded from elsewhere. Works under the page's Content-Security-Policy:
// no inline script or style, fetches only from the coordinator.
'use strict';

function fetchJson(url) {
  return fetch(url, {credentials: 'same-origin', cache: 'no-store'}).then(function (r) {
    if (!r.ok) throw new Error(url + ': ' + r.status);
    return r.json();
  });
}

function text(value) {
  if (value === null || value === undefined) return '–';
  return typeof value === 'number' ? Number(value.toPrecision(6)).toString() : String(value);
}

// The jobs table of a sweep page: poll its JSON until every job has finished.
function liveJobs(table) {
  var url = table.getAttribute('data-live-src');
  function update(data) {
    data.jobs.forEach(function (job) {
      var row = table.querySelector('tr[data-job="' + CSS.escape(job.id) + '"]');
      if (!row) return;
      var state = row.querySelector('[data-field="state"] .state');
      if (state) {
        state.textContent = job.state;
        state.className = 'state ' + job.state;
      }
      var set = function (field, value) {
        var cell = row.querySelector('[data-field="' + field + '"]');
        if (cell) cell.textContent = value;
      };
      set('attempt', job.attempt);
      set('worker', job.worker);
      set('error', job.error);
      set('steps', job.progress_step + '/' + job.total_steps);
      var bar = row.querySelector('progress');
      if (bar) {
        bar.max = Math.max(job.total_steps, 1);
        bar.value = job.progress_step;
      }
    });
    table.setAttribute('data-live', data.done ? 'done' : 'polling');
    if (!data.done) setTimeout(poll, 2000);
  }
  function poll() {
    fetchJson(url).then(update).catch(function (e) {
      table.setAttribute('data-live', 'error');
      setTimeout(poll, 5000);
    });
  }
  poll();
}

// A curves figure: on pointer moves, the values at the nearest step of the lines of the panel
// under the pointer. Layout "job": a panel per series (job or setting) in the rows' order, a line
// per frequency group; layout "group": a panel per frequency group (the group its lines carry in
// data-group), a line per series.
function hoverCurves(figure) {
  var svg = figure.querySelector('svg');
  var readout = figure.querySelector('.readout');
  var kind = figure.getAttribute('data-hover-kind');
  var byGroup = figure.getAttribute('data-hover-layout') === 'group';
  if (!svg) return;
  fetchJson(figure.getAttribute('data-hover-src')).then(function (rows) {
    var series = [], index = {}, lo = Infinity, hi = -Infinity;
    rows.forEach(function (row) {
      var key = kind === 'aggregate' ? JSON.stringify(row.labels) : row.job_id;
      if (!(key in index)) {
        index[key] = series.length;
        series.push(kind === 'aggregate' ? Object.keys(row.labels).map(function (k) {
          return k + '=' + row.labels[k];
        }).join(' ') : row.job_id);
      }
      row.series = index[key];
      lo = Math.min(lo, row.step);
      hi = Math.max(hi, row.step);
    });
    // The x axis spans the steps (a single step gets one either side), as report/plot.cc draws it.
    if (lo === hi) { lo -= 1; hi += 1; }
    figure.setAttribute('data-hover-rows', String(rows.length));
    var cursor = document.createElementNS('http://www.w3.org/2000/svg', 'line');
    cursor.setAttribute('class', 'cursor');
    svg.appendChild(cursor);
    var value = function (row) {
      return kind === 'aggregate' ? text(row.mean) + ' [' + text(row.ci_low) + ', ' +
          text(row.ci_high) + '] n=' + row.n : text(row.value);
    };
    svg.addEventListener('mousemove', function (event) {
      var p = svg.createSVGPoint();
      p.x = event.clientX;
      p.y = event.clientY;
      var at = p.matrixTransform(svg.getScreenCTM().inverse());
      var boxes = svg.querySelectorAll('rect[data-box]');
      for (var i = 0; i < boxes.length; ++i) {
        var b = boxes[i].getBBox();
        if (at.x < b.x || at.x > b.x + b.width || at.y < b.y || at.y > b.y + b.height) continue;
        var panel = Number(boxes[i].getAttribute('data-box'));
        var mine;
        if (byGroup) {
          var line = svg.querySelector('[data-panel="' + panel + '"][data-group]');
          if (!line) return;
          var group = Number(line.getAttribute('data-group')) + 1;
          mine = rows.filter(function (row) { return row.group === group; });
        } else {
          mine = rows.filter(function (row) { return row.series === panel; });
        }
        var want = lo + (at.x - b.x) / b.width * (hi - lo), best = null;
        mine.forEach(function (row) {
          if (best === null || Math.abs(row.step - want) < Math.abs(best - want)) best = row.step;
        });
        if (best === null) return;
        var x = b.x + (best - lo) / (hi - lo) * b.width;
        cursor.setAttribute('x1', x); cursor.setAttribute('x2', x);
        cursor.setAttribute('y1', b.y); cursor.setAttribute('y2', b.y + b.height);
        var parts = mine.filter(function (row) { return row.step === best; }).map(function (row) {
          return (byGroup ? series[row.series] : 'group ' + row.group) + ': ' + value(row);
        });
        readout.textContent = (byGroup ? 'group ' + mine[0].group : series[panel]) + ' · step ' +
            best + ' · ' + parts.join(' · ');
        return;
      }
    });
  }).catch(function (e) {
    figure.setAttribute('data-hover-rows', 'error');
    readout.textContent = 'values unavailable: ' + e.message;
  });
}

// A per-class scatter: the class under the pointer.
function hoverScatter(figure) {
  var readout = figure.querySelector('.readout');
  var hot = null;
  figure.addEventListener('mouseover', function (event) {
    var point = event.target.closest('circle[data-class]');
    if (!point) return;
    if (hot) hot.classList.remove('hot');
    hot = point;
    point.classList.add('hot');
    readout.textContent = 'class ' + point.getAttribute('data-class') + ': ' +
        point.getAttribute('data-frequency') + ' training examples, value ' +
        point.getAttribute('data-value') + ' at step ' + point.getAttribute('data-step');
  });
}

document.addEventListener('DOMContentLoaded', function () {
  document.querySelectorAll('table[data-live-src]').forEach(liveJobs);
  document.querySelectorAll('figure[data-hover-src]').forEach(hoverCurves);
  document.querySelectorAll('figure.scatter').forEach(hoverScatter);
  document.body.setAttribute('data-script', 'ready');
});
