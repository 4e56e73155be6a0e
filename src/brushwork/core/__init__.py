"""What every job uses: errors, settings fields, the one optimisation loop, schedules, the VGG
feature extractor, losses, pixels, files, colour, device choice and progress.

Nothing here imports a job (``gatys``, ``harmonize``, ``fastnet``, ``video``, ``web``):
tests/test_layout.py keeps it so.
"""
