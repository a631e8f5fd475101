"""vln: the public API tying the envs and the agents together.

- ``vln.rollout(agent_or_policy, env, episodes=..., video_dir=...)``: run and record episodes.
- ``vln.train.run(config)``: imitation (BC + DAgger), then REINFORCE, then evaluation.
- ``vln.evaluation.evaluate(...)``: Room-to-Room metrics on held-out episodes.
- ``vln.tokenizer.Vocabulary``: words to ids, unknown words to UNK.
"""

from vln.rollouts import rollout

__all__ = ["rollout"]
