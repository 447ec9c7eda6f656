// Rank sweep charts: validation loss, train-validation gap, adapter size and training time against rank,
// one line per target-layer choice, from the members panel's JSON data block. The panel is polled by htmx
// while members run; after each swap the charts take the new figures.
(function () {
  if (!window.Chart) return;
  const colours = ["#2f6f5e", "#c2185b", "#1565c0", "#ef6c00"];
  const charts = [
    { id: "sweep-val-loss", key: "val_loss", axis: "validation loss" },
    { id: "sweep-gap", key: "gap", axis: "validation − training loss" },
    { id: "sweep-size", key: "size_mib", axis: "MiB" },
    { id: "sweep-time", key: "runtime_seconds", axis: "seconds" },
  ];
  const drawn = {};
  function datasets(data, key) {
    return data.series.map((s, i) => ({
      label: s.label,
      data: s[key],
      borderColor: colours[i % colours.length],
      backgroundColor: colours[i % colours.length],
      pointRadius: 4,
      spanGaps: true,
    }));
  }
  function render() {
    const block = document.getElementById("sweep-chart-data");
    if (!block) return;
    const data = JSON.parse(block.textContent);
    for (const c of charts) {
      const canvas = document.getElementById(c.id);
      if (!canvas) continue;
      if (drawn[c.id]) {
        drawn[c.id].data.labels = data.ranks;
        drawn[c.id].data.datasets = datasets(data, c.key);
        drawn[c.id].update();
        continue;
      }
      drawn[c.id] = new Chart(canvas, {
        type: "line",
        data: { labels: data.ranks, datasets: datasets(data, c.key) },
        options: {
          animation: false,
          scales: {
            x: { title: { display: true, text: "rank" } },
            y: { title: { display: true, text: c.axis } },
          },
        },
      });
    }
  }
  render();
  document.body.addEventListener("htmx:afterSettle", render);
})();
