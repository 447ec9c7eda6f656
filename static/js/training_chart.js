// Loss curve of a training job: train and validation loss, fetched incrementally while the job runs.
(function () {
  const canvas = document.getElementById("loss-chart");
  if (!canvas || !window.Chart) return;
  const chart = new Chart(canvas, {
    type: "line",
    data: { datasets: [
      { label: "train loss", data: [], borderColor: "#2f6f5e", pointRadius: 0, tension: 0.2 },
      { label: "validation loss", data: [], borderColor: "#c2185b", pointRadius: 3, showLine: true },
    ] },
    options: { animation: false, parsing: false, scales: { x: { type: "linear", title: { display: true, text: "step" } } } },
  });
  let after = -1;
  async function poll() {
    const response = await fetch(canvas.dataset.url + "?after=" + Math.max(after, 0));
    if (!response.ok) return;
    const body = await response.json();
    for (const p of body.points) {
      if (p.loss !== null) chart.data.datasets[0].data.push({ x: p.step, y: p.loss });
      if (p.eval_loss !== null) chart.data.datasets[1].data.push({ x: p.step, y: p.eval_loss });
      after = Math.max(after, p.step);
    }
    chart.update();
    if (body.status === "queued" || body.status === "running") setTimeout(poll, 3000);
  }
  poll();
})();
