/* Live parts without polling. An element with data-live="topic …" and
 * hx-trigger="live" refreshes when the server says one of its topics changed:
 * one EventSource per page (/live/?topics=…, server-sent events from Redis).
 * While the stream is down, every live part polls every FALLBACK_MS instead; each
 * refreshes once whenever the stream opens (what changed meanwhile was not heard). */
(function () {
  "use strict";
  var FALLBACK_MS = 5000, RETRY_MS = 15000;
  var source = null, wanted = "", poll = null;

  function parts() { return document.querySelectorAll("[data-live]"); }
  function topicsOf(el) { return el.getAttribute("data-live").split(/\s+/).filter(Boolean); }
  function topics() {
    var all = {};
    parts().forEach(function (el) { topicsOf(el).forEach(function (t) { all[t] = true; }); });
    return Object.keys(all).sort().join(",");
  }
  // A part that replaces itself (hx-swap="outerHTML", the deployment's progress)
  // and hears its topic while it is fetching itself fetches itself again once that
  // settles: a trigger queued on it (hx-sync) would go with the element the swap
  // removes, and the page would stay one change behind. Parts swapped inside
  // themselves keep hx-sync's queue.
  var pending = {};
  function replacesItself(el) { return (el.getAttribute("hx-swap") || "").indexOf("outerHTML") === 0; }
  function keyOf(el) { return (el.id || "") + "|" + el.getAttribute("data-live"); }
  function refresh(topic) {
    parts().forEach(function (el) {
      if (topic !== null && topicsOf(el).indexOf(topic) < 0) return;
      if (replacesItself(el) && el.classList.contains("htmx-request")) pending[keyOf(el)] = true;
      else htmx.trigger(el, "live");
    });
  }
  function state(s) { document.body.setAttribute("data-push", s); }
  function startPolling() {
    if (poll === null) poll = setInterval(function () { refresh(null); }, FALLBACK_MS);
    state("polling");
  }
  function stopPolling() {
    var was = poll !== null;
    clearInterval(poll);
    poll = null;
    return was;
  }
  function connect() {
    if (source) { source.close(); source = null; }
    wanted = topics();
    if (!wanted) { stopPolling(); state("none"); return; }
    var url = document.body.getAttribute("data-live-url") + "?topics=" + encodeURIComponent(wanted);
    var mine = source = new EventSource(url);
    // Once open, each part fetches itself once: what changed between the page's
    // render and this moment (or while the stream was down) was not heard.
    mine.onopen = function () { state("open"); stopPolling(); refresh(null); };
    mine.onmessage = function (e) { refresh(e.data); };
    mine.onerror = function () {
      if (mine !== source) return;
      startPolling();
      if (mine.readyState === EventSource.CLOSED) {  // refused (503): try again later ourselves
        source = null;
        setTimeout(function () { if (source === null) connect(); }, RETRY_MS);
      }
    };
  }
  document.addEventListener("DOMContentLoaded", connect);
  // A swap that brings other live parts (the deployment page after Deploy) changes the topics.
  document.addEventListener("htmx:afterSettle", function () {
    if (topics() !== wanted) connect();
    parts().forEach(function (el) {
      var key = keyOf(el);
      if (pending[key] && !el.classList.contains("htmx-request")) { delete pending[key]; htmx.trigger(el, "live"); }
    });
  });
  window.addEventListener("pagehide", function () { if (source) source.close(); });
})();
