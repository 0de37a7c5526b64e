"""The daily report: model read from the marts, anomalies, narrative, and renderers (HTML, Markdown, JSON)."""
