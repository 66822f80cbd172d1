"""What a run and a day may spend: run budgets, daily spend reservations, pacing and model prices."""
