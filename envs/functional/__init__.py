"""The navigation envs as pure functions for accelerators (JAX), fed by an episode bank.

- ``bank``: ``build_bank``, episodes generated on the CPU and padded to fixed shapes (NumPy).
- ``tables``: the raycaster as lookup tables, so the device draws the CPU's frames (NumPy).
- ``nav``: the pure JAX functions, reset, step, reward, expert action and render (imports jax).
- ``gym_env``: ``FunctionalJaxEnv`` / ``FunctionalJaxVectorEnv`` classes for Gymnasium (imports jax).

Only ``nav`` and ``gym_env`` import jax; this package's ``__init__`` imports nothing, so
``envs`` imports without jax.
"""
