"""`python -m lingti …` runs the same command as the `lingti` console script."""

from lingti.cli import main

if __name__ == "__main__":
    main()
