"""Files bundled with brushwork; sources and licences are in SOURCES.md beside this file."""

from pathlib import Path

HERE = Path(__file__).parent
#: Chelsea the cat, by Stefan van der Walt, CC0 (from scikit-image's sample data).
DEMO_CONTENT = HERE / "chelsea.png"
#: The Starry Night, Vincent van Gogh, 1889, public domain.
DEMO_STYLE = HERE / "starry_night.jpg"
