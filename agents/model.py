"""The VLN agent: instruction encoder, FiLM-conditioned visual encoder, attentive
recurrent policy with value head; whole-sequence and single-step entry points that
share weights; loss, training step, save and load.

Everything here is Keras 3 (``keras.ops`` / ``keras.layers``) so the same code runs on
the TensorFlow and JAX backends.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Mapping
from typing import Any

import keras
import numpy as np
from keras import layers, ops

from agents.config import VISUAL_STEMS, AgentConfig
from agents.files import check_agent_file
from agents.layers import AnchoredPooling, film, masked_softmax
from agents.vocabulary import PAD_ID, Vocabulary

# What a training objective is: (y, y_pred) -> {"loss", "policy_loss", "value_loss", "entropy"}.
Objective = Callable[[Mapping[str, Any], Mapping[str, Any]], Mapping[str, Any]]


class _Cache:
    """Plain holder for the compiled helper models.

    Keras tracks Layers, lists and dicts assigned to a model; a plain object is not
    tracked, so the helper models' (shared) weights are not saved a second time.
    """

    def __init__(self) -> None:
        self.encode_model: keras.Model | None = None
        self.step_model: keras.Model | None = None


@keras.saving.register_keras_serializable(package="vln")
class VLNAgent(keras.Model):
    """Vision-and-language navigation agent (see the "Agent contract" in docs/design.md).

    Entry points (all share the same weights):

    * ``agent(inputs)`` / ``sequence_forward(batch)``: teacher-forced whole sequence.
      inputs: ``tokens`` (B, L) int32, ``images`` (B, T, H, W, 3) uint8,
      ``prev_actions`` (B, T) int32 (``num_actions`` = no previous action),
      ``state_h``/``state_c`` (B, hidden) float32. Outputs: ``logits`` (B, T, A),
      ``value`` (B, T), ``attention`` (B, T, L), final ``state_h``/``state_c``; with
      ``config.target_classes``, ``target_logits`` (B, T, K) of the auxiliary target head; with
      ``config.goal_classes``, ``goal_logits`` (B, T, K) of the auxiliary goal head.
    * ``encode_instruction(tokens)`` then ``step(enc, images, prev_actions, state)``:
      one compiled step for a batch of rollouts.
    """

    def __init__(
        self,
        config: AgentConfig,
        vocab: Vocabulary | None = None,
        name: str = "vln_agent",
        **kwargs: Any,
    ) -> None:
        """Create (and build) an agent.

        Args:
            config: the sizes; ``config.vocab_size`` must equal ``len(vocab)`` when a
                vocabulary is given.
            vocab: the instruction vocabulary, saved inside the ``.keras`` file.
            name: Keras model name.
        """
        super().__init__(name=name, **kwargs)
        if isinstance(config, Mapping):
            config = AgentConfig.from_dict(dict(config))
        if vocab is not None and len(vocab) != config.vocab_size:
            raise ValueError(
                f"AgentConfig.vocab_size={config.vocab_size} but the vocabulary has "
                f"{len(vocab)} entries"
            )
        self.config = config
        self.vocab = vocab
        cfg = config
        f1, f2, f3 = cfg.conv_filters

        # Instruction encoder. Padding is handled by an explicit word mask (tokens != 0)
        # passed to the LSTM, so padded steps never touch the recurrent state.
        self.word_embedding = layers.Embedding(cfg.vocab_size, cfg.embed_dim, name="word_embedding")
        text_rnn = layers.LSTM(cfg.text_hidden, return_sequences=True, name="text_lstm")
        self.text_rnn = layers.Bidirectional(text_rnn, name="text_bilstm") if cfg.bidirectional else text_rnn

        # Visual encoder: three strided convs, FiLM from the instruction summary, dense.
        (k1, s1), (k2, s2), (k3, s3) = VISUAL_STEMS[cfg.visual_stem]
        self.conv1 = layers.Conv2D(f1, k1, strides=s1, padding="same", activation="relu", name="conv1")
        self.conv2 = layers.Conv2D(f2, k2, strides=s2, padding="same", name="conv2")
        self.conv3 = layers.Conv2D(f3, k3, strides=s3, padding="same", name="conv3")
        # The FiLM conditioning: attention pooling over the words with learned queries
        # (one per head), so the colour and object words are picked wherever they stand
        # in the sentence; a mean over words, or the last state, dilutes them.
        self.pool_key = layers.Dense(cfg.attention_dim, activation="tanh", name="pool_key")
        self.pool_score = layers.Dense(cfg.pool_heads, use_bias=False, name="pool_score")
        if cfg.goal_pool:
            # One more pooling, biased toward the instruction's end, where a route names its goal.
            self.goal_pool = AnchoredPooling(anchor="end", name="goal_pool")
        if cfg.door_pool:
            # And one biased toward the start, where a route names the first door to take.
            self.door_pool = AnchoredPooling(anchor="start", name="door_pool")
        # FiLM after the last two convs (BabyAI stacks FiLM layers): colour and shape
        # words select features at two scales.
        self.film_params2 = layers.Dense(2 * f2, kernel_initializer="zeros", name="film2")
        self.film_params = layers.Dense(2 * f3, kernel_initializer="zeros", name="film")
        self.visual_dense = layers.Dense(cfg.hidden, activation="relu", name="visual_dense")
        if cfg.step_film:
            # Zero-initialised like the other FiLMs: the per-step modulation starts as identity.
            self.film_step = layers.Dense(2 * f3, kernel_initializer="zeros", name="film_step")
        if cfg.visual_attention:
            # The step's query of the map's cells. Zero-initialised: the attention starts uniform
            # (a mean over the cells), and learns what to look for from the attended words.
            self.visual_query = layers.Dense(f3, use_bias=False, kernel_initializer="zeros", name="visual_query")

        # Recurrent policy with additive attention over the words.
        self.action_embedding = layers.Embedding(cfg.num_actions + 1, cfg.action_embed, name="action_embedding")
        self.att_key = layers.Dense(cfg.attention_dim, name="att_key")
        self.att_query = layers.Dense(cfg.attention_dim, use_bias=False, name="att_query")
        self.att_score = layers.Dense(1, use_bias=False, name="att_score")
        if cfg.rnn == "lstm":
            self.cell = layers.LSTMCell(cfg.hidden, name="policy_lstm")
        else:
            self.cell = layers.GRUCell(cfg.hidden, name="policy_gru")
        self.policy_head = layers.Dense(cfg.num_actions, name="policy_head")
        # Zero-initialised: imitation never trains the value head, and a random one is a
        # baseline uncorrelated with the returns that only adds variance to REINFORCE.
        self.value_head = layers.Dense(1, kernel_initializer="zeros", name="value_head")
        if cfg.target_classes:
            # Auxiliary: where the route's next door or goal is in the view (training only).
            self.target_head = layers.Dense(cfg.target_classes, name="target_head")
        if cfg.goal_classes:
            # Auxiliary: where the goal object is in the view (training only).
            self.goal_head = layers.Dense(cfg.goal_classes, name="goal_head")

        # The training objective (set by compile_for_training) and its terms' trackers.
        self.objective: Objective | None = None
        self.policy_loss_tracker = keras.metrics.Mean(name="policy_loss")
        self.value_loss_tracker = keras.metrics.Mean(name="value_loss")
        self.entropy_tracker = keras.metrics.Mean(name="entropy")
        self._fns = _Cache()

        # Layers used inside the scanned loop must exist before the loop is traced
        # (creating variables inside a while-loop / lax.scan is not allowed).
        self.att_query.build((None, cfg.hidden))
        self.att_score.build((None, cfg.attention_dim))
        self.cell.build((None, cfg.visual_dim + cfg.word_dim + cfg.action_embed))
        if cfg.step_film:
            rows, cols = cfg.feature_grid
            self.film_step.build((None, cfg.word_dim))
            self.visual_dense.build((None, rows * cols * f3))
        if cfg.visual_attention:
            self.visual_query.build((None, cfg.word_dim + cfg.hidden))
        # One tiny eager call builds everything else, so weights can be loaded at once.
        self(self._dummy_inputs(1, 2, 1))

    # ----------------------------------------------------------------- building blocks
    def _dummy_inputs(self, batch: int, length: int, steps: int) -> dict[str, np.ndarray]:
        h, w, _ = self.config.image_shape
        return {
            "tokens": np.ones((batch, length), np.int32),
            "images": np.zeros((batch, steps, h, w, 3), np.uint8),
            "prev_actions": np.full((batch, steps), self.config.num_actions, np.int32),
            **{k: v for k, v in self.initial_state(batch).items()},
        }

    def _encode(self, tokens: Any) -> tuple[Any, Any, Any]:
        """tokens (B, L) -> word features (B, L, D) zeroed on padding, bool mask, summary (B, summary_dim)."""
        tokens = ops.cast(tokens, "int32")
        mask = ops.not_equal(tokens, PAD_ID)
        x = self.word_embedding(tokens)
        words = self.text_rnn(x, mask=mask)
        words = words * ops.cast(mask, words.dtype)[..., None]
        pool_keys = self.pool_key(words)
        summary = self._pool(words, pool_keys, mask)
        if self.config.goal_pool:
            summary = ops.concatenate([summary, self.goal_pool(words, pool_keys, mask)], axis=-1)
        if self.config.door_pool:
            summary = ops.concatenate([summary, self.door_pool(words, pool_keys, mask)], axis=-1)
        if self.config.film_last_word:
            # The forward LSTM's state at each instruction's last real word: a word whose next is
            # padding (padding follows the words).
            real = ops.cast(mask, words.dtype)
            at_last = real - ops.concatenate([real[:, 1:], ops.zeros_like(real[:, :1])], axis=1)
            final = ops.sum(at_last[..., None] * words[..., : self.config.text_hidden], axis=1)
            summary = ops.concatenate([summary, final], axis=-1)
        return words, mask, summary

    def _pool(self, words: Any, keys: Any, mask: Any) -> Any:
        """Instruction summary (B, pool_heads * D): attention-pooled words (their ``pool_key``s), one learned query a head."""
        scores = self.pool_score(keys)  # (B, L, heads)
        heads = []
        for k in range(self.config.pool_heads):
            weights = masked_softmax(scores[..., k], mask)
            heads.append(ops.sum(weights[..., None] * words, axis=1))
        return ops.concatenate(heads, axis=-1)

    def _visual(self, frames: Any, summary: Any) -> Any:
        """frames (N, H, W, 3) uint8 and summary (N, D) -> what the recurrent step reads of them.

        Visual features (N, hidden); with ``step_film`` the last convolution's FiLM-ed,
        not yet rectified map, flattened (N, rows * cols * C), which ``_step_visual``
        finishes once the step's word context is known.
        """
        x = ops.cast(frames, "float32") / 255.0
        x = ops.relu(film(self.conv2(self.conv1(x)), self.film_params2(summary)))
        x = film(self.conv3(x), self.film_params(summary))
        if self.config.step_film:
            return ops.reshape(x, (-1, x.shape[1] * x.shape[2] * x.shape[3]))
        if self.config.visual_attention:
            # The map's features, then its rectified cells for the step's attention (``_attend_map``).
            cells = ops.reshape(ops.relu(x), (-1, x.shape[1] * x.shape[2] * x.shape[3]))
            return ops.concatenate([self._read_map(x), cells], axis=-1)
        return self._read_map(x)

    def _read_map(self, x: Any) -> Any:
        """The last convolution's FiLM-ed map (N, rows, cols, C), not yet rectified -> features (N, visual_dim)."""
        x = ops.relu(x)
        features = self.visual_dense(ops.reshape(x, (-1, x.shape[1] * x.shape[2] * x.shape[3])))
        if self.config.visual_max_pool:
            features = ops.concatenate([features, ops.max(x, axis=(1, 2))], axis=-1)
        return features

    def _visual_width(self) -> int:
        """Width of what ``_visual`` returns per frame."""
        rows, cols = self.config.feature_grid
        if self.config.step_film:
            return rows * cols * self.config.conv_filters[2]
        if self.config.visual_attention:
            return self.config.map_dim + rows * cols * self.config.conv_filters[2]
        return self.config.visual_dim

    def _attend_map(self, vis: Any, h: Any, context: Any) -> Any:
        """``visual_attention``: the map's features and cells (B, map_dim + rows * cols * C), queried
        by the step's attended words and state -> (B, visual_dim)."""
        rows, cols = self.config.feature_grid
        channels = self.config.conv_filters[2]
        features, cells = vis[:, : self.config.map_dim], vis[:, self.config.map_dim :]
        cells = ops.reshape(cells, (-1, rows * cols, channels))
        query = self.visual_query(ops.concatenate([context, h], axis=-1))  # (B, C)
        scores = ops.sum(cells * query[:, None, :], axis=-1) / float(np.sqrt(channels))  # (B, cells)
        weights = ops.softmax(scores, axis=-1)
        attended = ops.sum(weights[..., None] * cells, axis=1)
        columns = ops.sum(ops.reshape(weights, (-1, rows, cols)), axis=1)  # where across the view
        best = ops.max(scores, axis=-1, keepdims=True)
        return ops.concatenate([features, attended, columns, best], axis=-1)

    def _step_visual(self, maps: Any, context: Any) -> Any:
        """``step_film``: flattened maps (B, rows * cols * C) modulated by the step's context -> (B, visual_dim)."""
        rows, cols = self.config.feature_grid
        x = ops.reshape(maps, (-1, rows, cols, self.config.conv_filters[2]))
        return self._read_map(film(x, self.film_step(context)))

    def _attend(self, h: Any, words: Any, keys: Any, mask: Any) -> tuple[Any, Any]:
        """Additive attention over words queried by ``h``: weights (B, L), context (B, D)."""
        q = self.att_query(h)[:, None, :]
        scores = ops.squeeze(self.att_score(ops.tanh(keys + q)), axis=-1)
        weights = masked_softmax(scores, mask)
        context = ops.sum(weights[..., None] * words, axis=1)
        return weights, context

    def _cell_step(self, h: Any, c: Any, vis: Any, act: Any, words: Any, keys: Any, mask: Any) -> tuple:
        """One recurrent step; returns (h_t, c_t, context_t, attention_t)."""
        weights, context = self._attend(h, words, keys, mask)
        if self.config.step_film:
            vis = self._step_visual(vis, context)
        elif self.config.visual_attention:
            vis = self._attend_map(vis, h, context)
        x = ops.concatenate([vis, context, act], axis=-1)
        if self.config.rnn == "lstm":
            h_new, (_, c_new) = self.cell(x, [h, c])
        else:
            h_new, _ = self.cell(x, [h])
            c_new = c  # GRU has no cell state; passed through to keep one signature
        return h_new, c_new, context, weights

    def _heads(self, h: Any, context: Any) -> tuple[Any, Any]:
        """Policy logits and scalar value from concat(h_t, context_t).

        The value head reads the features through a stop-gradient: its regression trains
        the head alone, never the trunk (CNN, LSTM, attention) it shares with the policy,
        so fitting a fresh baseline cannot undo what imitation taught the policy.
        """
        feat = ops.concatenate([h, context], axis=-1)
        # float32 outputs whatever the compute dtype (mixed precision): the loss and sampling need them.
        logits = ops.cast(self.policy_head(feat), "float32")
        value = ops.squeeze(self.value_head(ops.stop_gradient(feat)), axis=-1)
        return logits, ops.cast(value, "float32")

    # ------------------------------------------------------- entry point (a): sequence
    def call(self, inputs: Mapping[str, Any], training: bool | None = None) -> dict[str, Any]:
        """Teacher-forced pass over a whole sequence (see the class docstring)."""
        h_img, w_img, _ = self.config.image_shape
        words, mask, summary = self._encode(inputs["tokens"])
        keys = self.att_key(words)

        images = inputs["images"]
        b, t = ops.shape(images)[0], ops.shape(images)[1]
        # All T frames go through the CNN in one batched call.
        frames = ops.reshape(images, (-1, h_img, w_img, 3))
        summ = ops.reshape(
            ops.broadcast_to(summary[:, None, :], (b, t, summary.shape[-1])), (-1, summary.shape[-1])
        )
        vis = ops.reshape(self._visual(frames, summ), (b, t, self._visual_width()))
        act = self.action_embedding(ops.cast(inputs["prev_actions"], "int32"))

        def body(carry, xs):
            h, c, _, _ = carry
            vis_t, act_t = xs[:, :hid], xs[:, hid:]
            # The carry stays float32 under mixed precision (scan needs fixed dtypes, and
            # the recurrent state should not round to bf16 at every step).
            carry = tuple(ops.cast(v, "float32") for v in self._cell_step(h, c, vis_t, act_t, words, keys, mask))
            # Keras's TF scan requires ys to mirror the carry, so the per-step outputs
            # (context, attention) ride along in the carry and ys = carry.
            return carry, carry

        init = (
            ops.cast(inputs["state_h"], "float32"),
            ops.cast(inputs["state_c"], "float32"),
            ops.zeros_like(ops.cast(words[:, 0, :], "float32")),
            ops.zeros_like(ops.cast(mask, "float32")),
        )
        # One xs tensor, not a tuple: Keras's TF scan fails on several xs when T is
        # unknown at trace time (reduce_retracing makes it None).
        hid = self._visual_width()
        xs = ops.transpose(ops.concatenate([vis, act], axis=-1), (1, 0, 2))
        (h_last, c_last, _, _), (hs, _, contexts, att) = ops.scan(body, init, xs)  # time-major
        hs = ops.transpose(hs, (1, 0, 2))
        contexts = ops.transpose(contexts, (1, 0, 2))
        logits, value = self._heads(hs, contexts)
        out = {
            "logits": logits,
            "value": value,
            "state_h": h_last,
            "state_c": c_last,
            "attention": ops.transpose(att, (1, 0, 2)),
        }
        feat = ops.concatenate([hs, contexts], axis=-1)
        if self.config.target_classes:
            out["target_logits"] = ops.cast(self.target_head(feat), "float32")
        if self.config.goal_classes:
            out["goal_logits"] = ops.cast(self.goal_head(feat), "float32")
        return out

    def sequence_forward(self, batch: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """Compiled whole-sequence forward pass; returns numpy outputs incl. final states.

        ``state_h``/``state_c`` default to zeros, so truncated BPTT can carry the
        returned states into the next chunk. Extra keys in ``batch`` are ignored.
        """
        return self.predict_on_batch(self._sequence_inputs(batch))

    def _sequence_inputs(self, batch: Mapping[str, Any]) -> dict[str, np.ndarray]:
        missing = [k for k in ("tokens", "images", "prev_actions") if k not in batch]
        if missing:
            raise ValueError(f"batch is missing {missing}")
        tokens = np.asarray(batch["tokens"], np.int32)
        out = {
            "tokens": tokens,
            "images": np.asarray(batch["images"], np.uint8),
            "prev_actions": np.asarray(batch["prev_actions"], np.int32),
        }
        zeros = self.initial_state(tokens.shape[0])
        for k in ("state_h", "state_c"):
            v = batch.get(k)
            out[k] = zeros[k] if v is None else np.asarray(v, np.float32)
        return out

    # ----------------------------------------------------- entry point (b): one step
    def initial_state(self, batch_size: int) -> dict[str, np.ndarray]:
        """Zero recurrent state for ``batch_size`` episodes."""
        z = np.zeros((batch_size, self.config.hidden), np.float32)
        return {"state_h": z, "state_c": z.copy()}

    def _encode_model(self) -> keras.Model:
        if self._fns.encode_model is None:
            tokens = keras.Input(shape=(None,), dtype="int32", name="tokens")
            words, mask, summary = self._encode(tokens)
            self._fns.encode_model = keras.Model(
                tokens,
                {"words": words, "mask": ops.cast(mask, "float32"), "summary": summary},
                name="encode_instruction",
            )
        return self._fns.encode_model

    def _step_model(self) -> keras.Model:
        if self._fns.step_model is None:
            cfg = self.config
            inp = {
                "words": keras.Input(shape=(None, cfg.word_dim), name="words"),
                "mask": keras.Input(shape=(None,), name="mask"),
                "summary": keras.Input(shape=(cfg.summary_dim,), name="summary"),
                "image": keras.Input(shape=cfg.image_shape, dtype="uint8", name="image"),
                "prev_action": keras.Input(shape=(), dtype="int32", name="prev_action"),
                "state_h": keras.Input(shape=(cfg.hidden,), name="state_h"),
                "state_c": keras.Input(shape=(cfg.hidden,), name="state_c"),
            }
            mask = ops.greater(inp["mask"], 0.5)
            vis = self._visual(inp["image"], inp["summary"])
            act = self.action_embedding(inp["prev_action"])
            keys = self.att_key(inp["words"])
            h, c, context, weights = self._cell_step(
                inp["state_h"], inp["state_c"], vis, act, inp["words"], keys, mask
            )
            logits, value = self._heads(h, context)
            out = {"logits": logits, "value": value, "attention": ops.cast(weights, "float32"),
                   "state_h": ops.cast(h, "float32"), "state_c": ops.cast(c, "float32")}
            self._fns.step_model = keras.Model(inp, out, name="step")
        return self._fns.step_model

    def rollout_models(self) -> tuple[keras.Model, keras.Model]:
        """The models ``encode_instruction`` and ``step`` run (built once, the agent's weights).

        For callers that run them statelessly (``model.stateless_call(trainable_values,
        non_trainable_values, inputs)`` inside a compiled rollout): the encoder takes
        ``tokens`` and gives ``words``, ``mask``, ``summary``; the step takes those with
        ``image``, ``prev_action``, ``state_h`` and ``state_c`` (see ``step``).
        """
        return self._encode_model(), self._step_model()

    def encode_instruction(self, tokens: Any) -> dict[str, np.ndarray]:
        """Encode a batch of instructions once per episode (compiled).

        Returns numpy ``words`` (B, L, D), ``mask`` (B, L) float32 (1 on real words)
        and ``summary`` (B, D), to be passed to every ``step`` of the episode.
        """
        return self._encode_model().predict_on_batch(np.asarray(tokens, np.int32))

    def step(
        self,
        enc: Mapping[str, Any],
        images: Any,
        prev_actions: Any,
        state: Mapping[str, Any],
    ) -> dict[str, np.ndarray]:
        """One compiled policy step for a batch of episodes.

        Args:
            enc: output of ``encode_instruction``.
            images: (B, H, W, 3) uint8 current frames.
            prev_actions: (B,) int32 previous actions (``num_actions`` at t=0).
            state: ``{"state_h", "state_c"}`` (B, hidden), e.g. ``initial_state(B)``.

        Returns:
            numpy ``logits`` (B, A), ``value`` (B,), ``attention`` (B, L) and the new
            ``state_h``/``state_c``.
        """
        x = {
            "words": np.asarray(enc["words"], np.float32),
            "mask": np.asarray(enc["mask"], np.float32),
            "summary": np.asarray(enc["summary"], np.float32),
            "image": np.asarray(images, np.uint8),
            "prev_action": np.asarray(prev_actions, np.int32),
            "state_h": np.asarray(state["state_h"], np.float32),
            "state_c": np.asarray(state["state_c"], np.float32),
        }
        return self._step_model().predict_on_batch(x)

    # ------------------------------------------------------------------------ training
    def compile_for_training(
        self,
        objective: Objective,
        learning_rate: float = 1e-3,
        clipnorm: float | None = 1.0,
        jit_compile: bool | str = "auto",
        ema_momentum: float = 0.0,
    ) -> None:
        """Compile with Adam, gradient clipping by global norm and ``objective`` as the loss.

        ``objective(y, y_pred)`` returns the loss and its named terms (``loss``,
        ``policy_loss``, ``value_loss``, ``entropy``), e.g. ``vln.objectives.loss_terms``
        with its coefficients bound. Call again to change it: it is baked into the compiled step.
        With ``ema_momentum`` in (0, 1), the optimizer also keeps an exponential moving average
        of the weights (Keras's ``use_ema``); ``use_averaged_weights()`` copies it into the agent.
        """
        if not 0.0 <= ema_momentum < 1.0:
            raise ValueError(f"ema_momentum must be in [0, 1), got {ema_momentum}")
        self.objective = objective
        ema = {"use_ema": True, "ema_momentum": ema_momentum} if ema_momentum > 0 else {}
        optimizer = keras.optimizers.Adam(learning_rate=learning_rate, global_clipnorm=clipnorm, **ema)
        self.compile(optimizer=optimizer, jit_compile=jit_compile)

    def use_averaged_weights(self) -> bool:
        """Copy the optimizer's moving average of the weights into the agent (see
        ``compile_for_training``'s ``ema_momentum``); False, changing nothing, where it keeps none
        or has taken no step yet."""
        opt = self.optimizer
        if opt is None or not opt.use_ema or not opt.built or int(ops.convert_to_numpy(opt.iterations)) == 0:
            return False
        opt.finalize_variable_values(self.trainable_variables)
        return True

    def compute_loss(
        self,
        x: Any = None,
        y: Any = None,
        y_pred: Any = None,
        sample_weight: Any = None,
        training: bool = True,
    ) -> Any:
        """The compiled objective's loss; its terms are tracked as metrics."""
        terms = self.objective(y, y_pred)
        self.policy_loss_tracker.update_state(terms["policy_loss"])
        self.value_loss_tracker.update_state(terms["value_loss"])
        self.entropy_tracker.update_state(terms["entropy"])
        return terms["loss"]

    def train_batch(self, batch: Mapping[str, Any]) -> dict[str, float]:
        """One compiled gradient step on ``batch`` of the compiled objective.

        Returns floats ``loss`` (total) and the terms ``policy_loss``, ``value_loss`` and ``entropy``.
        """
        if self.optimizer is None:
            raise RuntimeError("call compile_for_training() before train_batch()")
        x = self._sequence_inputs(batch)
        steps, words = x["prev_actions"].shape, x["tokens"].shape

        def optional(key: str, shape: tuple[int, ...], dtype: str = "float32") -> np.ndarray:
            """``batch[key]`` as ``dtype``, or zeros (no such target) where it is missing or None."""
            value = batch.get(key)
            return np.zeros(shape, dtype) if value is None else np.asarray(value, dtype)

        y = {
            "actions": np.asarray(batch["actions"], np.int32),
            "weights": np.asarray(batch["weights"], np.float32),
            "mask": np.asarray(batch["mask"], np.float32),
            "returns": optional("returns", steps),
            "value_mask": optional("value_mask", steps),
            # The progress loss's targets (see vln.objectives.loss_terms).
            "progress": optional("progress", steps),
            "progress_mask": optional("progress_mask", steps),
            "word_pos": optional("word_pos", words),
            # The target-view loss's targets.
            "target_view": optional("target_view", steps, "int32"),
            "target_mask": optional("target_mask", steps),
            # The goal-view loss's targets.
            "goal_view": optional("goal_view", steps, "int32"),
            "goal_mask": optional("goal_mask", steps),
        }
        logs = self.train_on_batch(x, y, return_dict=True)
        return {k: float(logs[k]) for k in ("loss", "policy_loss", "value_loss", "entropy")}

    # ----------------------------------------------------------------- save and load
    def get_config(self) -> dict[str, Any]:
        """AgentConfig and vocabulary as JSON-able dicts (stored in the .keras file)."""
        return {
            "name": self.name,
            "agent_config": self.config.to_dict(),
            "vocab": None if self.vocab is None else self.vocab.to_config(),
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "VLNAgent":
        """Rebuild an (untrained) agent from ``get_config()`` output."""
        vocab = config.get("vocab")
        return cls(
            AgentConfig.from_dict(config["agent_config"]),
            vocab=None if vocab is None else Vocabulary.from_config(vocab),
            name=config.get("name", "vln_agent"),
        )

    def get_build_config(self) -> dict[str, Any]:
        return {}  # __init__ builds the model; nothing to replay on load

    def build_from_config(self, config: dict[str, Any]) -> None:
        pass

    def save(self, filepath: str | os.PathLike, overwrite: bool = True, **kwargs: Any) -> None:
        """Write model + config + vocabulary to one ``.keras`` file, atomically.

        The file is written next to the target and then renamed over it, so a crash
        mid-save never leaves a truncated checkpoint.
        """
        path = os.fspath(filepath)
        if not path.endswith(".keras"):
            raise ValueError(f"agent files must end with .keras, got {path!r}")
        if os.path.exists(path) and not overwrite:
            raise FileExistsError(path)
        folder = os.path.dirname(os.path.abspath(path))
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".keras")
        os.close(fd)
        try:
            super().save(tmp, overwrite=True, **kwargs)
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.remove(tmp)
            raise


def load_agent(path: str | os.PathLike) -> VLNAgent:
    """Load an agent saved with ``VLNAgent.save`` (on any backend).

    Raises:
        ValueError: naming the file when it is missing, not a ``.keras`` archive, not a
            VLN agent, or its weights do not match its config.
    """
    path = os.fspath(path)
    check_agent_file(path)
    try:
        agent = keras.saving.load_model(path, compile=False)
    except Exception as e:
        raise ValueError(f"could not load VLN agent from {path}: {e}") from e
    if not isinstance(agent, VLNAgent):
        raise ValueError(f"{path} does not hold a VLN agent (got {type(agent).__name__})")
    return agent
