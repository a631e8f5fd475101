"""Hyper-parameters of the VLN agent."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any


# (kernel, stride) of the visual encoder's three convolutions, by ``AgentConfig.visual_stem``.
VISUAL_STEMS = {"strided": ((5, 2), (3, 2), (3, 2)), "patch": ((4, 4), (3, 2), (3, 1))}


@dataclass
class AgentConfig:
    """Sizes of the VLN agent. Defaults are small so a 2-core CPU trains quickly."""

    vocab_size: int
    """Number of word ids (``len(vocabulary)``, including ``<pad>`` and ``<unk>``)."""

    num_actions: int
    """Number of discrete actions; id ``num_actions`` means "no previous action"."""

    image_shape: tuple[int, int, int] = (64, 64, 3)
    """(H, W, 3) of the uint8 camera frames."""

    embed_dim: int = 32
    """Word embedding size."""

    text_hidden: int = 64
    """Units of the instruction LSTM (per direction)."""

    bidirectional: bool = False
    """Run the instruction LSTM in both directions (word features are 2*text_hidden)."""

    rnn: str = "lstm"
    """Recurrent policy cell: "lstm" or "gru"."""

    hidden: int = 128
    """Units of the recurrent policy cell (and of the visual feature vector)."""

    conv_filters: tuple[int, ...] = (16, 32, 32)
    """Filters of the three convolutions of the visual encoder."""

    visual_stem: str = "strided"
    """Kernels/strides of the three convolutions: "strided" (5x5/2, 3x3/2, 3x3/2) or "patch"
    (4x4/4 non-overlapping patches, then 3x3/2, 3x3/1): the same 8x8 feature grid from a
    64x64 frame for about half the multiply-adds."""

    step_film: bool = False
    """Also modulate the last convolution's features at every step with FiLM from the word
    context the policy attends to at that step (its previous state's query), so the
    features pick out what the current part of the instruction names ("the yellow door"),
    not only what the whole instruction names."""

    pool_heads: int = 2
    """Heads of the attention pooling that summarises the instruction for the visual FiLM,
    each a learned query over the words. A route names several things to look for (doors,
    landmarks, the goal); with two heads the summary held the first door and the turn,
    and the goal's words got almost no weight."""

    film_last_word: bool = False
    """The visual FiLM also reads the instruction LSTM's (forward) state at the last word: the
    route ends with the goal's clause, which the learned pooling queries left out on the recipe
    that introduced it (they settled on the first door or landmark; in the main job's agent now
    they settle on the goal too)."""

    goal_pool: bool = False
    """The visual FiLM also reads the words pooled by attention with a bias toward the end
    (``agents.layers.AnchoredPooling`` anchored at the end: a learned score per word minus a
    learned slope times its distance from the last word). A route names its goal last, but not
    always as its last words ("go to the yellow key and stop"), where the last word's state reads
    "stop"; the content score could pick the object's words a few words before the end. Measured, it learns to read the
    last words instead, as every training phrasing puts the goal there (BENCHMARKS.md)."""

    door_pool: bool = False
    """The visual FiLM also reads the words pooled by attention with a bias toward the start
    (``agents.layers.AnchoredPooling`` anchored at the first word). A route names the first door
    to take near its start, where the other poolings settle on the goal. Measured, it costs
    success, and the agent still does not read the door's colour: the pooling stays on the first
    words, and the FiLM mixes them into the goal's features (BENCHMARKS.md)."""

    visual_max_pool: bool = False
    """Also give the policy the last convolution's FiLM-ed features maxed over the whole map
    (one value a channel, as BabyAI's FiLM agent pools them): whether what the instruction names
    is anywhere in view, which the dense layer over the flattened map must otherwise learn
    position by position."""

    visual_attention: bool = False
    """At every step the words the policy attends to query the cells of the instruction-FiLM-ed
    feature map (a dot product with each cell's features, softmax over the cells): the cell
    step also reads the attended cell features, the attention's column profile (where across
    the view) and its largest score (how well the best cell matches). Matching "the purple
    door" of the step's clause against what is in view is then one dot product, which the
    dense layer over the flattened map and the recurrent cell must otherwise learn to compute."""

    target_classes: int = 0
    """Classes of the target head (0: none): an auxiliary linear head on the policy's state and
    attended words, trained to say where the route's next door or goal is in the view (the
    built-in envs' ``info["target_view"]``: out of view, left, ahead, right)."""

    goal_classes: int = 0
    """Classes of the goal head (0: none): the same kind of head, trained to say where the goal
    object is in the view at every step (the built-in envs' ``info["goal_view"]``)."""

    attention_dim: int = 64
    """Size of the additive attention over words."""

    action_embed: int = 16
    """Embedding size of the previous action."""

    def __post_init__(self) -> None:
        # JSON round trips turn tuples into lists; normalise so configs compare equal.
        self.image_shape = tuple(int(v) for v in self.image_shape)
        self.conv_filters = tuple(int(v) for v in self.conv_filters)
        if self.visual_stem not in VISUAL_STEMS:
            raise ValueError(f"AgentConfig.visual_stem must be one of {sorted(VISUAL_STEMS)}, got {self.visual_stem!r}")
        if self.rnn not in ("lstm", "gru"):
            raise ValueError(f"AgentConfig.rnn must be 'lstm' or 'gru', got {self.rnn!r}")
        if len(self.image_shape) != 3 or self.image_shape[2] != 3:
            raise ValueError(f"AgentConfig.image_shape must be (H, W, 3), got {self.image_shape}")
        for name in ("target_classes", "goal_classes"):
            if getattr(self, name) < 0 or getattr(self, name) == 1:
                raise ValueError(f"AgentConfig.{name} must be 0 (no head) or at least 2, got {getattr(self, name)}")
        if self.visual_attention and self.step_film:
            raise ValueError("AgentConfig.visual_attention and step_film cannot be combined")
        if self.pool_heads < 1:
            raise ValueError(f"AgentConfig.pool_heads must be at least 1, got {self.pool_heads}")
        if len(self.conv_filters) != 3:
            raise ValueError(f"AgentConfig.conv_filters needs 3 entries, got {self.conv_filters}")
        if self.vocab_size < 2 or self.num_actions < 1:
            raise ValueError(
                f"AgentConfig needs vocab_size >= 2 and num_actions >= 1, got "
                f"{self.vocab_size}, {self.num_actions}"
            )

    @property
    def feature_grid(self) -> tuple[int, int]:
        """(rows, cols) of the last convolution's feature map ("same" padding)."""
        h, w = self.image_shape[:2]
        for _, stride in VISUAL_STEMS[self.visual_stem]:
            h, w = -(-h // stride), -(-w // stride)
        return h, w

    @property
    def map_dim(self) -> int:
        """Size of the features read off a frame's whole map (the dense layer, and its max pool)."""
        return self.hidden + (self.conv_filters[2] if self.visual_max_pool else 0)

    @property
    def visual_dim(self) -> int:
        """Size of the visual features the recurrent cell reads at each step."""
        if not self.visual_attention:
            return self.map_dim
        # The attended cell features, the attention's column profile and its largest score.
        return self.map_dim + self.conv_filters[2] + self.feature_grid[1] + 1

    @property
    def summary_dim(self) -> int:
        """Size of the instruction summary the visual FiLM reads (``encode_instruction``'s ``summary``)."""
        return ((self.pool_heads + int(self.goal_pool) + int(self.door_pool)) * self.word_dim
                + (self.text_hidden if self.film_last_word else 0))

    @property
    def word_dim(self) -> int:
        """Size of the per-word features (doubled when bidirectional)."""
        return self.text_hidden * (2 if self.bidirectional else 1)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict (tuples become lists)."""
        d = dataclasses.asdict(self)
        d["image_shape"] = list(self.image_shape)
        d["conv_filters"] = list(self.conv_filters)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "AgentConfig":
        """Inverse of ``to_dict``; unknown keys raise ValueError so mismatches are loud."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"unknown AgentConfig fields: {sorted(unknown)}")
        return cls(**d)
