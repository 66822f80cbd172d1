"""One turn of the agent: the loop, its plan, the model's answers, the tool calls and the gate they pass. No SQL:
storage is `agent.conversations`'s."""
