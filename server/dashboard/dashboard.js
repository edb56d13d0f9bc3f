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

// A curves figure: on pointer moves, the values of the panel's series at the nearest step.
function hoverCurves(figure) {
  var svg = figure.querySelector('svg');
  var readout = figure.querySelector('.readout');
  var kind = figure.getAttribute('data-hover-kind');
  if (!svg) return;
  fetchJson(figure.getAttribute('data-hover-src')).then(function (rows) {
    // Panels in the order their series first appear (the order the SVG draws them).
    var panels = [], index = {}, lo = Infinity, hi = -Infinity;
    rows.forEach(function (row) {
      var key = kind === 'aggregate' ? JSON.stringify(row.labels) : row.job_id;
      if (!(key in index)) {
        index[key] = panels.length;
        var title = kind === 'aggregate' ? Object.keys(row.labels).map(function (k) {
          return k + '=' + row.labels[k];
        }).join(' ') : row.job_id;
        panels.push({title: title, steps: {}});
      }
      var panel = panels[index[key]];
      (panel.steps[row.step] = panel.steps[row.step] || []).push(row);
      lo = Math.min(lo, row.step);
      hi = Math.max(hi, row.step);
    });
    if (lo === hi) { lo -= 1; hi += 1; }
    figure.setAttribute('data-hover-rows', String(rows.length));
    var cursor = document.createElementNS('http://www.w3.org/2000/svg', 'line');
    cursor.setAttribute('class', 'cursor');
    svg.appendChild(cursor);
    svg.addEventListener('mousemove', function (event) {
      var p = svg.createSVGPoint();
      p.x = event.clientX;
      p.y = event.clientY;
      var at = p.matrixTransform(svg.getScreenCTM().inverse());
      var boxes = svg.querySelectorAll('rect[data-box]');
      for (var i = 0; i < boxes.length; ++i) {
        var b = boxes[i].getBBox();
        if (at.x < b.x || at.x > b.x + b.width || at.y < b.y || at.y > b.y + b.height) continue;
        var panel = panels[Number(boxes[i].getAttribute('data-box'))];
        if (!panel) return;
        var want = lo + (at.x - b.x) / b.width * (hi - lo), best = null;
        Object.keys(panel.steps).forEach(function (s) {
          if (best === null || Math.abs(s - want) < Math.abs(best - want)) best = Number(s);
        });
        if (best === null) return;
        var x = b.x + (best - lo) / (hi - lo) * b.width;
        cursor.setAttribute('x1', x); cursor.setAttribute('x2', x);
        cursor.setAttribute('y1', b.y); cursor.setAttribute('y2', b.y + b.height);
        var parts = panel.steps[best].map(function (row) {
          var v = kind === 'aggregate' ? text(row.mean) + ' [' + text(row.ci_low) + ', ' +
              text(row.ci_high) + '] n=' + row.n : text(row.value);
          return 'group ' + row.group + ': ' + v;
        });
        readout.textContent = panel.title + ' · step ' + best + ' · ' + parts.join(' · ');
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
