"""Everything about the package is in pyproject.toml; this file only adds the
``otree_redwood_quiet.pth`` file to the wheel (pyproject.toml cannot place a
file at the top of site-packages).

Why a .pth file: ``otree <command>`` imports Channels (then Daphne, Twisted,
pyOpenSSL, cryptography) before it imports any extension, and cryptography
47 warns on import that Python 3.8 is deprecated.  oTree 3.4 runs only on
Python 3.8, so the warning concerns no user of otree-redwood.  A .pth line
runs when the interpreter starts, before any import, and installs one
targeted filter for that message; nothing else.
"""
import os

from setuptools import setup
from setuptools.command.build_py import build_py

PTH_NAME = "otree_redwood_quiet.pth"
# one line, run by site.py at start-up (a .pth line that starts with "import")
PTH_LINE = (
    "import warnings; warnings.filterwarnings('ignore', "
    "message=r'Python 3\\.8 is no longer supported by the Python core team', category=UserWarning)\n"
)


class build_py_with_pth(build_py):
    def run(self):
        super().run()
        self._write_pth(self.build_lib)
        if getattr(self, "editable_mode", False):
            # an editable wheel holds only what is in the install folder (the
            # unpacked wheel), not build_lib: put the .pth there too, so that
            # `pip install -e .` checkouts are as quiet as installed wheels
            self._write_pth(self.get_finalized_command("install").install_lib)

    def _write_pth(self, folder):
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, PTH_NAME), "w") as f:
            f.write(PTH_LINE)

    def get_outputs(self, include_bytecode=True):
        return super().get_outputs(include_bytecode) + [os.path.join(self.build_lib, PTH_NAME)]


setup(cmdclass={"build_py": build_py_with_pth})
