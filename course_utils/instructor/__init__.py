"""The instructor's wing: the tools that build, run, publish and hand out the course.

- ``paths``: the repository's folders;
- ``authoring``: notebooks/src -> solutions/ and exercises/;
- ``runner``: execute the solution notebooks headlessly and summarise them;
- ``book``: the static HTML book of the executed lessons;
- ``hublink``: an nbgitpuller link that hands the course out on a JupyterHub;
- ``cli``: ``python -m course_utils``, one handler per command.

Lessons, checks and data (the student wing, the rest of ``course_utils``) never import this
package; ``tests/test_wings.py`` walks the imports to keep it so.
"""
