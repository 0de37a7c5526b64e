// Injected (by tests/reports/test_browser.py only) into a copy of report.html, which the test shows in an
// iframe of the width under test (headless Chromium's window is at least 500 px wide): measures the laid-out
// page and posts the figures as JSON to the framing page, which --dump-dom then returns.
addEventListener("load", () => {
  const root = document.documentElement;
  const viewport = root.clientWidth;
  const out = { viewport, page: { scrollWidth: root.scrollWidth, height: root.scrollHeight }, tables: [], charts: [], clipped: [], cells: [] };
  document.querySelectorAll("table").forEach((table) => {
    const box = table.parentElement;
    const section = table.closest("section");
    const head = table.querySelector("th");
    out.tables.push({
      section: section ? section.id : "",
      head: head ? head.textContent.trim() : "",
      scrollWidth: box.scrollWidth,
      clientWidth: box.clientWidth,
      right: table.getBoundingClientRect().right,
    });
  });
  document.querySelectorAll("svg.chart").forEach((svg) => {
    if (getComputedStyle(svg).display === "none") return;
    const name = svg.getAttribute("class");
    const view = svg.viewBox.baseVal;
    const rect = svg.getBoundingClientRect();
    const scale = rect.width / view.width;
    let smallest = Infinity;
    svg.querySelectorAll("text").forEach((text) => {
      const b = text.getBBox();
      smallest = Math.min(smallest, parseFloat(getComputedStyle(text).fontSize) * scale);
      if (b.x < view.x - 1 || b.x + b.width > view.x + view.width + 1) {
        out.clipped.push({ chart: name, text: text.textContent, left: b.x, right: b.x + b.width, width: view.width });
      }
    });
    out.charts.push({ chart: name, right: rect.right, width: rect.width, smallestText: smallest });
  });
  document.querySelectorAll("svg.retention-heatmap rect.cell").forEach((cell) => {
    const label = cell.nextElementSibling;
    if (label && label.classList.contains("cell-label")) {
      out.cells.push({ fill: cell.getAttribute("fill"), ink: getComputedStyle(label).fill, text: label.textContent });
    }
  });
  parent.postMessage(JSON.stringify(out), "*");
});
