/* Wide tables scroll sideways in their .table-scroll box. A box that scrolls must be reachable
 * with the keyboard (WCAG 2.1.1; axe-core's scrollable-region-focusable), so one that
 * overflows is made focusable (arrow keys then scroll it), and becomes a named region: the
 * table's caption, or else the heading before it, says what it holds. A box that fits gets no
 * tab stop. Checked again when the window is resized and after htmx swaps in new content.
 * No inline code (the Content-Security-Policy allows none); without this script the tables
 * still show and scroll.
 */
(function () {
  "use strict";

  function label(box) {
    var caption = box.querySelector("caption");
    if (caption && caption.textContent.trim()) { return caption.textContent.trim(); }
    var table = box.querySelector("table[aria-label]");
    if (table) { return table.getAttribute("aria-label"); }
    for (var node = box.previousElementSibling; node; node = node.previousElementSibling) {
      if (/^H[1-6]$/.test(node.tagName)) { return node.textContent.trim(); }
    }
    var section = box.closest("section, .card");
    var heading = section && section.querySelector("h1, h2, h3, h4");
    return heading ? heading.textContent.trim() : "";
  }

  function update() {
    var boxes = document.querySelectorAll(".table-scroll");
    for (var i = 0; i < boxes.length; i++) {
      var box = boxes[i];
      if (box.scrollWidth > box.clientWidth + 1 || box.scrollHeight > box.clientHeight + 1) {
        box.setAttribute("tabindex", "0");
        var name = box.getAttribute("aria-label") || label(box);
        if (name) {
          box.setAttribute("role", "region");
          box.setAttribute("aria-label", name);
        }
      } else if (box.getAttribute("tabindex") === "0") {
        box.removeAttribute("tabindex");
        box.removeAttribute("role");
        box.removeAttribute("aria-label");
      }
    }
  }

  var pending = null;
  function later() {
    if (pending) { window.clearTimeout(pending); }
    pending = window.setTimeout(update, 100);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", update);
  } else {
    update();
  }
  window.addEventListener("resize", later);
  document.addEventListener("htmx:afterSettle", update);
})();
