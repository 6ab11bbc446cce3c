"""Rendering photos: photo I/O (:mod:`.photo`), backends (:mod:`.backends`), tiling (:mod:`.tiles`), the
released resize (:mod:`.resize`) and one photo end to end (:mod:`.renderer`)."""
