"""The toolbox's run management: launches, status, control, history, events, schedules and stats."""
