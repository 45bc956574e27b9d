"""``meshctl top``: a live terminal view of the mesh (Textual), over a pure data layer."""
