// Data-extraction form: the "Convert…" dialog asks the server (the analysis engine) for a derived
// mean or SD (an arm's cell) or an estimate and SE (a study estimate) and fills them in, keeping the
// method and its inputs in the row's derivation field; typing a number by hand drops its derivation
// and marks the row as reported.
(function () {
  "use strict";
  var form = document.getElementById("extraction-form");
  var dialog = document.getElementById("convert-dialog");
  if (!form || !dialog) { return; }
  var methods = JSON.parse(dialog.getAttribute("data-methods"));
  var defaultR = dialog.getAttribute("data-default-r");
  var methodSelect = document.getElementById("convert-method");
  var inputsBox = document.getElementById("convert-inputs");
  var result = document.getElementById("convert-result");
  var errorBox = document.getElementById("convert-error");
  var prefix = null;
  var names = { mean: "Mean", sd: "SD", estimate: "Estimate", se: "SE" };

  function offerMethods(kind, preferred) {
    // Only the conversions that give this row's numbers; the row's preferred one (a ratio's CI for
    // an outcome analysed on the log scale) or else the first of them chosen.
    var first = preferred || null;
    Array.prototype.forEach.call(methodSelect.options, function (option) {
      var fits = option.getAttribute("data-kind") === kind;
      option.hidden = !fits; option.disabled = !fits;
      if (fits && first === null) { first = option.value; }
    });
    if (preferred || methodSelect.selectedOptions[0] === undefined || methodSelect.selectedOptions[0].disabled) {
      methodSelect.value = first;
    }
  }

  function field(name) { return form.querySelector('[name="' + prefix + name + '"]'); }

  function renderInputs() {
    inputsBox.textContent = "";
    methods[methodSelect.value].inputs.forEach(function (spec) {
      var p = document.createElement("p");
      var label = document.createElement("label");
      label.textContent = spec[1] + (spec[2] ? "" : " (optional)");
      label.htmlFor = "in_" + spec[0];
      var input = document.createElement("input");
      input.id = "in_" + spec[0];
      input.name = "in_" + spec[0];
      input.inputMode = "decimal";
      if (spec[0] === "n" && field("n") && field("n").value) { input.value = field("n").value; }
      if (spec[0] === "r") { input.value = defaultR; }
      if (spec[0] === "level") { input.value = "0.95"; }
      p.appendChild(label); p.appendChild(input); inputsBox.appendChild(p);
    });
    result.textContent = ""; errorBox.textContent = "";
  }

  function readDerivation() {
    var text = field("derivation").value;
    try { return text ? JSON.parse(text) : {}; } catch (e) { return {}; }
  }


  form.addEventListener("click", function (event) {
    var button = event.target.closest("button.convert");
    if (!button) { return; }
    prefix = button.getAttribute("data-prefix");
    offerMethods(button.getAttribute("data-kind"), button.getAttribute("data-method"));
    renderInputs();
    dialog.showModal();
  });
  methodSelect.addEventListener("change", renderInputs);
  document.getElementById("convert-cancel").addEventListener("click", function () { dialog.close(); });
  document.getElementById("convert-apply").addEventListener("click", function () {
    var body = new FormData();
    body.append("method", methodSelect.value);
    inputsBox.querySelectorAll("input").forEach(function (input) { body.append(input.name, input.value); });
    body.append("csrfmiddlewaretoken", form.querySelector('[name="csrfmiddlewaretoken"]').value);
    fetch(form.getAttribute("data-convert-url"), { method: "POST", body: body, credentials: "same-origin" })
      .then(function (response) { return response.json(); })
      .then(function (data) {
        if (data.errors) {
          errorBox.textContent = Object.keys(data.errors).map(function (k) { return data.errors[k]; }).join(" ");
          return;
        }
        var derivation = readDerivation();
        var notes = [];
        Object.keys(data.derived).forEach(function (attr) {
          var d = data.derived[attr];
          field(attr).value = String(Number(d.value.toPrecision(6)));
          derivation[attr] = { method: d.method, inputs: d.inputs };
          notes.push(names[attr] + ": " + d.description + " (" + d.source + ")");
        });
        field("derivation").value = JSON.stringify(derivation);
        var provenance = "reported";
        var ranks = ["imputed", "estimated", "calculated", "reported"];
        Object.keys(data.derived).forEach(function (attr) {
          var p = data.derived[attr].provenance;
          if (ranks.indexOf(p) < ranks.indexOf(provenance)) { provenance = p; }
        });
        field("provenance").value = provenance;
        var row = form.querySelector('tr[data-prefix="' + prefix + '"] .derivation-note');
        if (row) { row.textContent = notes.join("; "); }
        result.textContent = notes.join("; ");
        dialog.close();
      })
      .catch(function () { errorBox.textContent = "The conversion could not be run; try again."; });
  });

  form.addEventListener("input", function (event) {
    var input = event.target;
    if (!input.classList.contains("derivable")) { return; }
    prefix = input.closest("tr").getAttribute("data-prefix");
    var derivation = readDerivation();
    delete derivation[input.getAttribute("data-attr")];
    field("derivation").value = Object.keys(derivation).length ? JSON.stringify(derivation) : "";
    if (!Object.keys(derivation).length) { field("provenance").value = "reported"; }
  });
}());
