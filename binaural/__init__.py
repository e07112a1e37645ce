"""The domain package: pure audio, video, geometry, rendering, synthesis and metrics code
(no Prefect, Ray, MLflow, torch or Ultralytics). Its subpackages and what each may import:
README "Layout"; the rules are import-linter contracts in pyproject.toml."""
