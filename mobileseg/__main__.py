"""``python -m mobileseg`` (also what ``torchrun -m mobileseg`` starts)."""

from mobileseg.cli import main

if __name__ == "__main__":
    main()
