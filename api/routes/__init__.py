"""One router per resource; each route validates, calls one engine service, shapes the answer."""
