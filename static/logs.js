/* The log page: the search box shows only the lines that contain its text (also
 * after each refresh), and the tail size reloads the page with it. */
(function () {
  "use strict";
  function filter() {
    var box = document.getElementById("log-search");
    var text = box ? box.value.toLowerCase() : "";
    document.querySelectorAll("pre.logs .log-line").forEach(function (line) {
      line.hidden = text !== "" && line.textContent.toLowerCase().indexOf(text) < 0;
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    var box = document.getElementById("log-search"), tail = document.getElementById("log-tail");
    if (box) box.addEventListener("input", filter);
    if (tail) tail.addEventListener("change", function () { tail.form.submit(); });
  });
  document.addEventListener("htmx:afterSettle", filter);
})();
