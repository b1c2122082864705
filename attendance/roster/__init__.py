"""The roster: offices, employees, user accounts and their enrolled faces, each change audited."""
