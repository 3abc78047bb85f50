"""The test-time refinements of a trained model (Kreiman & Krishnapriyan 2025): radius
refinement (:mod:`.rr`, on the graph spectra of :mod:`.spectral`) and test-time training on a
cheap prior (:mod:`.ttt`, offline; in MD see :mod:`mlff_ttt.plugin.adapter`)."""
