"""The attendance domain: models, roster and enrolment, vision, rules, services, reports."""
