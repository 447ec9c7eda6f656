// Data health charts: data comes from a json_script element, never from inline markup.
(function () {
  const node = document.getElementById("health-charts");
  if (!node || typeof Chart === "undefined") return;
  const data = JSON.parse(node.textContent);
  const percent = (v) => (v === null || v === undefined ? null : Math.round(v * 1000) / 10);
  function draw(id, config) {
    const canvas = document.getElementById(id);
    if (canvas) new Chart(canvas, config);
  }
  draw("chart-categories", {
    type: "bar",
    data: {
      labels: data.categories.labels,
      datasets: [
        { label: "actual %", data: data.categories.actual.map(percent) },
        { label: "target %", data: data.categories.target.map(percent) },
      ],
    },
  });
  draw("chart-annotators", {
    type: "bar",
    data: { labels: data.annotators.labels, datasets: [{ label: "share %", data: data.annotators.shares.map(percent) }] },
  });
  for (const part of ["prompt", "response"]) {
    draw("chart-" + part, {
      type: "bar",
      data: { labels: data.lengths[part].labels, datasets: [{ label: "examples", data: data.lengths[part].counts }] },
      // Counts of examples: whole-number ticks only (Chart.js otherwise labels 0.2, 0.4 … on small counts).
      options: {
        plugins: { legend: { display: false } },
        scales: { y: { beginAtZero: true, ticks: { precision: 0 }, title: { display: true, text: "examples" } } },
      },
    });
  }
})();
