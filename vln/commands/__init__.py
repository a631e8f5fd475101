"""The command-line programs (vln-train, vln-evaluate, vln-rollout, vln-compare), each a module with ``main(argv)``."""
