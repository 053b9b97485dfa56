"""Governance a province is assessed on: 好差评 ratings and their rectifications, 告知承诺 post-checks
and credit marks, 12345 complaints, red-card explanations. Their tasks share one gate
(:mod:`engine.governance.followups`)."""
