(function () {
  "use strict";
  // The findings are data (a JSON block nothing executes); one page of rows is in the table at
  // a time, so the page stays quick whatever their number. Every value is set as text.
  var table = document.getElementById("findings");
  var source = document.getElementById("findings-data");
  if (!table || !source) {
    return;
  }
  var data = JSON.parse(source.textContent);
  var body = table.tBodies[0];
  var headers = table.tHead.rows[0].cells;
  var text = document.getElementById("filter");
  var change = document.getElementById("change");
  var shown = document.getElementById("shown");
  var pageLabel = document.getElementById("page");
  var previous = document.getElementById("previous");
  var next = document.getElementById("next");
  var pageRows = parseInt(table.getAttribute("data-page-rows"), 10) || 100;
  var severities = ["", "medium", "high", "critical"];
  var rows = data.rows;

  // Each finding's cells as shown, and the values its columns sort by.
  function cells(row) {
    var kind = data.kinds[row[3]];
    var idle = row[5];
    return [
      severities[row[0]],
      data.accounts[row[1]],
      row[2],
      row[4] ? kind[0] + " " + row[4] : kind[0],
      idle < 0 ? "unknown" : String(idle),
      row[6] || (kind[1] ? "never" : "not recorded"),
      row[7],
      row[8] < 0 ? "" : data.owners[row[8]],
      kind[2],
      row[9] < 0 ? "" : data.remediations[row[9]]
    ];
  }

  var shownCells = rows.map(cells);
  var search = shownCells.map(function (values) {
    return values.join(" ").toLowerCase();
  });
  function sortValue(index, column) {
    if (column === 0) {
      return rows[index][0];
    }
    if (column === 4) {
      // Unknown idle ages sort as the oldest: nothing shows a use.
      return rows[index][5] < 0 ? 1e9 : rows[index][5];
    }
    return shownCells[index][column].toLowerCase();
  }

  var order = rows.map(function (_, index) { return index; });
  var view = order;
  var page = 0;

  function render() {
    var pages = Math.max(1, Math.ceil(view.length / pageRows));
    page = Math.min(page, pages - 1);
    var fragment = document.createDocumentFragment();
    view.slice(page * pageRows, (page + 1) * pageRows).forEach(function (index) {
      var values = shownCells[index];
      var tr = document.createElement("tr");
      tr.setAttribute("data-change", rows[index][7]);
      values.forEach(function (value, column) {
        var td = document.createElement("td");
        var header = headers[column];
        if (header.className) {
          td.className = header.className;
        }
        if (column === 0) {
          td.className = "sev-" + value;
        } else if (column === 6 && value === "new") {
          td.className = "new";
        }
        if (column === 3) {
          var code = document.createElement("code");
          code.textContent = value;
          td.appendChild(code);
        } else {
          td.textContent = value;
        }
        tr.appendChild(td);
      });
      fragment.appendChild(tr);
    });
    body.textContent = "";
    body.appendChild(fragment);
    shown.textContent = view.length + " of " + rows.length + " shown";
    pageLabel.textContent = "page " + (page + 1) + " of " + pages;
    previous.disabled = page === 0;
    next.disabled = page >= pages - 1;
  }

  function applyFilter() {
    var words = text.value.trim().toLowerCase();
    var wanted = change.value;
    view = order.filter(function (index) {
      return (words === "" || search[index].indexOf(words) >= 0) &&
        (wanted === "" || rows[index][7] === wanted);
    });
    page = 0;
    render();
  }

  function sortBy(header) {
    var column = header.cellIndex;
    var ascending = header.getAttribute("aria-sort") !== "ascending";
    Array.prototype.forEach.call(headers, function (other) {
      other.removeAttribute("aria-sort");
    });
    header.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    var keys = rows.map(function (_, index) { return sortValue(index, column); });
    order = order.slice().sort(function (a, b) {
      var x = keys[a];
      var y = keys[b];
      var result = x < y ? -1 : x > y ? 1 : a - b;
      return ascending ? result : -result;
    });
    applyFilter();
  }

  Array.prototype.forEach.call(table.querySelectorAll("th button"), function (button) {
    button.addEventListener("click", function () {
      sortBy(button.parentNode);
    });
  });
  previous.addEventListener("click", function () {
    page -= 1;
    render();
  });
  next.addEventListener("click", function () {
    page += 1;
    render();
  });
  text.addEventListener("input", applyFilter);
  change.addEventListener("change", applyFilter);
  applyFilter();
})();
