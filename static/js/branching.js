/* Branching on the data-entry forms: hide the items whose condition does not hold.
 *
 * The conditions are REDCap's syntax, as instruments/branching.py reads them on the server:
 * [item] = '1', [a] >= 2 and ([b] = "f" or [c] < 30), [multi(2)] = '1', not [x] = ''.
 * Each item's wrapper carries its condition in data-show-if and its variable in data-item.
 * Progressive enhancement: without this script every item shows, and the server refuses an
 * answer to an item that is not asked. A hidden item's inputs are disabled, so they are not
 * sent; an item answered with a missing-data code reads as blank, as on the server.
 * No eval, no inline handlers (the Content-Security-Policy allows neither).
 */
(function () {
  "use strict";

  var TOKEN = /^\s*(?:(\[([a-z][a-z0-9_]*)(?:\(([^()[\]]+)\))?\])|('[^']*'|"[^"]*")|(-?\d+(?:\.\d+)?)|(<>|!=|<=|>=|=|<|>)|(and|or|not)\b|([()]))/i;

  function tokens(text) {
    var out = [];
    var rest = text.replace(/\s+$/, "");
    while (rest.length) {
      var m = TOKEN.exec(rest);
      if (!m || !m[0].length) { throw new Error("cannot read the condition"); }
      rest = rest.slice(m[0].length);
      if (m[1]) { out.push({ kind: "ref", name: m[2].toLowerCase(), option: m[3] ? m[3].trim() : null }); }
      else if (m[4] !== undefined) { out.push({ kind: "value", text: m[4].slice(1, -1) }); }
      else if (m[5] !== undefined) { out.push({ kind: "value", text: m[5] }); }
      else if (m[6]) { out.push({ kind: "op", text: m[6] === "!=" ? "<>" : m[6] }); }
      else if (m[7]) { out.push({ kind: m[7].toLowerCase() }); }
      else { out.push({ kind: m[8] }); }
    }
    return out;
  }

  function parse(text) {
    var list = tokens(text);
    var i = 0;
    function peek() { return i < list.length ? list[i].kind : null; }
    function take() {
      if (i >= list.length) { throw new Error("the condition ends too early"); }
      return list[i++];
    }
    function operand() {
      var t = take();
      if (t.kind === "ref" || t.kind === "value") { return t; }
      throw new Error("expected an item or a value");
    }
    function comparison() {
      var left = operand();
      var op = take();
      if (op.kind !== "op") { throw new Error("expected a comparison"); }
      return { kind: "cmp", left: left, op: op.text, right: operand() };
    }
    function negation() {
      if (peek() === "not") { take(); return { kind: "not", part: negation() }; }
      if (peek() === "(") {
        take();
        var node = disjunction();
        if (take().kind !== ")") { throw new Error("a parenthesis is not closed"); }
        return node;
      }
      return comparison();
    }
    function conjunction() {
      var parts = [negation()];
      while (peek() === "and") { take(); parts.push(negation()); }
      return parts.length === 1 ? parts[0] : { kind: "and", parts: parts };
    }
    function disjunction() {
      var parts = [conjunction()];
      while (peek() === "or") { take(); parts.push(conjunction()); }
      return parts.length === 1 ? parts[0] : { kind: "or", parts: parts };
    }
    var node = disjunction();
    if (i !== list.length) { throw new Error("unexpected token"); }
    return node;
  }

  function resolve(side, values) {
    if (side.kind === "value") { return side.text; }
    var value = values[side.name];
    if (side.option !== null) {
      return Array.isArray(value) && value.indexOf(side.option) >= 0 ? "1" : "0";
    }
    if (value === undefined || value === null || Array.isArray(value)) { return ""; }
    return String(value);
  }

  var NUMBER = /^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$/;

  function number(text) { return text !== "" && NUMBER.test(text) ? parseFloat(text) : null; }

  function compare(left, op, right) {
    var a = number(left);
    var b = number(right);
    var numeric = a !== null && b !== null;
    if ((op === "<" || op === ">" || op === "<=" || op === ">=") && !numeric) { return false; }
    var x = numeric ? a : left;
    var y = numeric ? b : right;
    switch (op) {
      case "=": return x === y;
      case "<>": return x !== y;
      case "<": return x < y;
      case ">": return x > y;
      case "<=": return x <= y;
      default: return x >= y;
    }
  }

  function evaluate(node, values) {
    if (node === null) { return true; }
    if (node.kind === "cmp") { return compare(resolve(node.left, values), node.op, resolve(node.right, values)); }
    if (node.kind === "not") { return !evaluate(node.part, values); }
    var i;
    if (node.kind === "and") {
      for (i = 0; i < node.parts.length; i++) { if (!evaluate(node.parts[i], values)) { return false; } }
      return true;
    }
    for (i = 0; i < node.parts.length; i++) { if (evaluate(node.parts[i], values)) { return true; } }
    return false;
  }

  function answerInputs(wrapper) {
    return Array.prototype.filter.call(
      wrapper.querySelectorAll("input, select, textarea"),
      function (el) { return !el.hasAttribute("data-missing"); }
    );
  }

  function valueOf(wrapper) {
    var inputs = answerInputs(wrapper);
    if (!inputs.length) { return ""; }
    if (inputs[0].type === "checkbox") {
      return inputs.filter(function (el) { return el.checked; }).map(function (el) { return el.value; });
    }
    if (inputs[0].type === "radio") {
      var checked = inputs.filter(function (el) { return el.checked; });
      return checked.length ? checked[0].value : "";
    }
    return inputs[0].value.trim();
  }

  function update(form, items) {
    var values = {};
    items.forEach(function (entry) {
      var shown = true;
      if (entry.condition !== null) {
        try { shown = evaluate(entry.condition, values); } catch (e) { shown = true; }
      }
      // An item the server refused stays in sight with its message, its answer not sent.
      entry.wrapper.hidden = !shown && !entry.wrapper.classList.contains("has-error");
      var missing = entry.wrapper.querySelector("[data-missing]");
      var coded = shown && missing !== null && missing.value !== "";
      if (missing !== null) { missing.disabled = !shown; }
      answerInputs(entry.wrapper).forEach(function (el) { el.disabled = !shown || coded; });
      values[entry.name] = shown && !coded ? valueOf(entry.wrapper) : "";
    });
  }

  function enhance(form) {
    var items = Array.prototype.map.call(form.querySelectorAll("[data-item]"), function (wrapper) {
      var text = wrapper.getAttribute("data-show-if") || "";
      var condition = null;
      if (text.trim()) {
        try { condition = parse(text); } catch (e) { condition = null; }
      }
      return { wrapper: wrapper, name: wrapper.getAttribute("data-item"), condition: condition };
    });
    var run = function () { update(form, items); };
    form.addEventListener("change", run);
    form.addEventListener("input", run);
    // Disabled inputs are not sent: enable a shown item's inputs right before sending, in case
    // a change was not seen (a browser's autofill).
    form.addEventListener("submit", run);
    run();
    form.classList.add("branching-on");
  }

  function start() {
    Array.prototype.forEach.call(document.querySelectorAll("form[data-branching]"), enhance);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }

  // For the tests of the evaluator (tests/browser): the same reading as the server's.
  window.instrumentBranching = { parse: parse, evaluate: evaluate };
})();
