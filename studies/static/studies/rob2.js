// Live RoB 2 proposal: on every change the form is sent to the server, which runs the published
// algorithm (one implementation, in studies/rob2.py); this script only shows what it answers and
// greys out the questions that do not apply. Without JavaScript, "Save draft" shows the same.
(function () {
  const form = document.getElementById("rob2-form");
  if (!form) return;
  async function refresh() {
    const response = await fetch(form.dataset.proposeUrl, {method: "POST", body: new FormData(form),
                                                           headers: {"X-Requested-With": "fetch"}});
    if (!response.ok) return;
    const proposal = await response.json();
    for (const [key, domain] of Object.entries(proposal.domains)) {
      const shown = form.querySelector(`[data-proposed="${key}"]`);
      if (shown) shown.textContent = domain.proposed || "incomplete";
      form.querySelectorAll(`[data-domain="${key}"] tr[data-question]`).forEach((row) => {
        row.classList.toggle("not-applicable", !domain.asked.includes(row.dataset.question));
      });
    }
    const overall = form.querySelector('[data-proposed="overall"]');
    if (overall) overall.textContent = proposal.overall.proposed || "incomplete";
  }
  form.addEventListener("change", refresh);
})();
