"""The attacker-learner-critic loop on a generative learner: red-teaming attackers that write prompts,
critics of query-response pairs (weak ensemble, LLM, self-critique), a chat learner refined by DPO
or SFT through TRL, and a budgeted human expert (``superalign loop --task refusal``).

It sits above `oversight` (the human oracle, selection policies and the LLM verdict path) and
`generation` (TRL training, chat prompts, cached samples), which are siblings and import neither.
"""

from .attackers import ATTACKERS, RedTeamAttacker
from .config import RedTeamConfig
from .critics import CRITICS
from .loop import run_red_team

__all__ = ["ATTACKERS", "CRITICS", "RedTeamAttacker", "RedTeamConfig", "run_red_team"]
