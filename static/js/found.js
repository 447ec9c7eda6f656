// "What training found": the histogram of per-example loss (base model and adapter) from the page's
// JSON data block; and the bulk send-back button counts the ticked rows.
(function () {
  const canvas = document.getElementById("found-chart");
  const data = document.getElementById("found-chart-data");
  if (canvas && data && window.Chart) {
    const chart = JSON.parse(data.textContent);
    const labels = chart.adapter.map((_, i) => chart.edges[i].toFixed(2) + "–" + chart.edges[i + 1].toFixed(2));
    new Chart(canvas, {
      type: "bar",
      data: {
        labels: labels,
        datasets: [
          { label: "base model", data: chart.base, backgroundColor: "rgba(120, 120, 120, 0.45)" },
          { label: "adapter", data: chart.adapter, backgroundColor: "rgba(47, 111, 94, 0.8)" },
        ],
      },
      options: {
        animation: false,
        scales: {
          x: { title: { display: true, text: "loss per example (mean over answer tokens)" }, ticks: { maxRotation: 60 } },
          y: { title: { display: true, text: "examples" }, beginAtZero: true, ticks: { precision: 0 } },
        },
      },
    });
  }
  const form = document.getElementById("send-back-form");
  const button = document.getElementById("send-selected");
  if (form && button) {
    const update = () => {
      const n = form.querySelectorAll('input[name="example"]:checked').length;
      button.disabled = n === 0;
      button.textContent = n ? "Send " + n + " selected back to review" : "Send selected back to review";
    };
    form.addEventListener("change", update);
    update();
  }
})();
