"""Install V2Xum: `pip install -e ".[dev]"` (see README)."""

from setuptools import setup


# The ranges the package supports. Their lower ends are the oldest set the tests pass with (constraints-lowest.txt,
# installed by .ci/run in a second environment for a fast subset); the newest tested set is constraints.txt. torch
# starts at 2.14: torchvision (needed by transformers' video processors) has no build for an older torch here.
INSTALL_REQUIRES = [
    "torch>=2.14,<3",
    "torchvision>=0.29",
    "transformers>=5.19,<6",
    "trl>=1.16,<2",
    "peft>=0.21,<1",
    "datasets>=5.2,<6",
    "evaluate>=0.4.6,<0.5",
    "huggingface_hub>=2.4,<3",
    "accelerate>=1.10.1,<2",
    "open_clip_torch>=3.3,<4",
    "av>=18.1",
    "pillow",
    "psutil",  # a run's own start time (v2xum summarize: concurrent runs on one output folder)
]

EXTRAS_REQUIRE = {
    # pycocoevalcap: BLEU/CIDEr-D/ROUGE-L as the VideoXum protocol computes them (METEOR and its tokenizer use Java)
    "metrics": [
        "sacrebleu==2.6.0",
        "rouge-score==0.1.2",
        "pycocoevalcap==1.2",
        "scipy==1.17.1",
        "scikit-learn==1.9.1",
    ],
    # v2xum summarize --engine ray (Ray Data), v2xum serve (Ray Serve; multipart uploads need python-multipart)
    "ray": ["ray[data,serve]==2.60.0", "python-multipart==0.0.34"],
    "app": ["gradio==6.31.0"],  # v2xum app (the Space header pins the same version: v2xum.hub.GRADIO_VERSION)
    # benchmarks/bench_real_lm.py: reads SmolLM2 from a GGUF, draws its learning curves
    "real-lm": ["gguf==0.19.0", "matplotlib==3.11.2"],
    "docs": ["mkdocs==1.6.1", "mkdocs-material==9.8.2"],  # mkdocs build: the site in docs/
    "bench": ["decord2==3.4.0"],  # benchmarks/bench_decode.py compares against it (benchmarks only)
    # selenium drives Debian's chromium + chromium-driver (installed by .ci/run) for the app's browser test
    "dev": ["pytest", "pytest-timeout", "selenium==4.51.0", "ruff==0.17.6"],
}
for _extra in ("metrics", "ray", "app", "docs"):
    EXTRAS_REQUIRE["dev"] += EXTRAS_REQUIRE[_extra]

setup(
    name="v2xum",
    version="0.1.0.dev0",
    description="Hugging Face-native cross-modal video summarization (V2Xum-LLM, arXiv 2404.12353)",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.11",
    packages=["modeling_v2xum", "processing", "v2xum", "evaluate_metrics"],
    # Files read at run time ship inside the packages (found with importlib.resources): the model card template
    # (modeling_v2xum/model_card.md links to the top-level model_card.md), the StoryBoard demo model, the metrics.
    package_data={
        "modeling_v2xum": ["model_card.md"],
        "v2xum": ["storyboard_demo/*"],
        "evaluate_metrics": ["*/*.py", "*/README.md"],
    },
    py_modules=["train_sft"],  # importable (tests, benchmarks, accelerate launch) as well as runnable
    install_requires=INSTALL_REQUIRES,
    extras_require=EXTRAS_REQUIRE,
    entry_points={"console_scripts": ["v2xum=v2xum.cli:main"]},
)
