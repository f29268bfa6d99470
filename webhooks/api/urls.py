# Club-scoped, mounted under /v3/<lc>/.
v3_patterns: list = []
