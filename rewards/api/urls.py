# Club-scoped, mounted under /v3/<lc>/.
v3_patterns: list = []
v1_patterns: list = []  # mounted under /v1/<lc>/
