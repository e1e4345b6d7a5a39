(function () {
  "use strict";
  var table = document.getElementById("findings");
  if (!table) {
    return;
  }
  var body = table.tBodies[0];
  var rows = Array.prototype.slice.call(body.rows);
  var text = document.getElementById("filter");
  var change = document.getElementById("change");
  var shown = document.getElementById("shown");

  function value(row, column, numeric) {
    var cell = row.cells[column];
    var raw = cell.getAttribute("data-sort");
    if (raw === null) {
      raw = cell.textContent;
    }
    return numeric ? parseFloat(raw) : raw.toLowerCase();
  }

  function sortBy(header) {
    var column = header.cellIndex;
    var numeric = header.getAttribute("data-type") === "number";
    var ascending = header.getAttribute("aria-sort") !== "ascending";
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (other) {
      other.removeAttribute("aria-sort");
    });
    header.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    rows.sort(function (a, b) {
      var x = value(a, column, numeric);
      var y = value(b, column, numeric);
      var order = x < y ? -1 : x > y ? 1 : 0;
      return ascending ? order : -order;
    });
    rows.forEach(function (row) {
      body.appendChild(row);
    });
  }

  function applyFilter() {
    var words = text.value.trim().toLowerCase();
    var wanted = change.value;
    var count = 0;
    rows.forEach(function (row) {
      var visible = (words === "" || row.textContent.toLowerCase().indexOf(words) >= 0) &&
        (wanted === "" || row.getAttribute("data-change") === wanted);
      row.hidden = !visible;
      if (visible) {
        count += 1;
      }
    });
    shown.textContent = count + " of " + rows.length + " shown";
  }

  Array.prototype.forEach.call(table.querySelectorAll("th button"), function (button) {
    button.addEventListener("click", function () {
      sortBy(button.parentNode);
    });
  });
  text.addEventListener("input", applyFilter);
  change.addEventListener("change", applyFilter);
  applyFilter();
})();
