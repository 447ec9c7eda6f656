// Loss curve of a training job: train and validation loss, fetched incrementally while the job runs.
// Points are drawn while a series has few of them (a single logged step is a point, not an empty chart),
// and the latest values are written under the chart.
(function () {
  const canvas = document.getElementById("loss-chart");
  if (!canvas || !window.Chart) return;
  const note = document.getElementById("loss-chart-note");
  const radius = (ctx) => (ctx.dataset.data.length <= 20 ? 3 : 0);
  const chart = new Chart(canvas, {
    type: "line",
    data: { datasets: [
      { label: "train loss", data: [], borderColor: "#2f6f5e", backgroundColor: "#2f6f5e", pointRadius: radius, tension: 0.2 },
      { label: "validation loss", data: [], borderColor: "#c2185b", backgroundColor: "#c2185b", pointRadius: 3, showLine: true },
    ] },
    options: { animation: false, parsing: false, scales: { x: { type: "linear", title: { display: true, text: "step" } } } },
  });
  let after = -1;
  let lastLoss = null;
  let lastEval = null;
  let lastRate = null;
  function learningRate(value) {
    if (value === null || value === undefined) return "—";
    return value === 0 ? "0" : value.toExponential(1).replace(/e([+-])(\d)$/, "e$10$2");
  }
  function describe() {
    if (!note) return;
    const parts = [];
    if (lastLoss) parts.push("loss " + lastLoss.y.toFixed(4) + " at step " + lastLoss.x);
    if (lastEval) parts.push("validation loss " + lastEval.y.toFixed(4) + " at step " + lastEval.x);
    if (lastRate !== null) parts.push("learning rate " + learningRate(lastRate));
    note.textContent = parts.length ? "Latest: " + parts.join(" · ") : "No step logged yet.";
  }
  async function poll() {
    const response = await fetch(canvas.dataset.url + "?after=" + Math.max(after, 0));
    if (!response.ok) return;
    const body = await response.json();
    for (const p of body.points) {
      if (p.loss !== null) chart.data.datasets[0].data.push(lastLoss = { x: p.step, y: p.loss });
      if (p.eval_loss !== null) chart.data.datasets[1].data.push(lastEval = { x: p.step, y: p.eval_loss });
      if (p.learning_rate !== null && p.learning_rate !== undefined) lastRate = p.learning_rate;
      after = Math.max(after, p.step);
    }
    chart.update();
    describe();
    if (body.status === "queued" || body.status === "running") setTimeout(poll, 3000);
  }
  poll();
})();
