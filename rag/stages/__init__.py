"""The answer path's stages, in the order ``rag.answer.Answerer`` runs them over one ``rag.turn.Turn``:

``prepare`` (clean the question, the decision about the request, its parts) → ``retrieve`` (dense + BM25,
and a Chinese rendering of an English question) → ``decide`` (answerable from what was found?) →
``select`` (the passages and sentences the model reads; the evidence shown first) → ``generate`` (the model's
reasoning and answer, streamed) → ``verify`` (keep only what the passages support, else abstain) → ``cite``
(which passages the answer was taken from, decided in code). ``compose`` answers a several-part question
part by part and merges the parts.
"""
