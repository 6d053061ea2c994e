"""Run reports: report.json (versioned schema), summary.md, and later report.html."""
