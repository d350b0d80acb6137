"""Text metrics (ignite's ``ignite.metrics.nlp``): BLEU, ROUGE, character error rate and perplexity.

>>> from ember.metrics.nlp import Bleu
>>> bleu = Bleu(ngram=2)
>>> bleu.update(([["a", "cat", "sat"]], [[["a", "cat", "sat"]]]))
>>> bleu.compute().item()
1.0
"""

from ember.metrics.nlp.bleu import Bleu
from ember.metrics.nlp.character_error_rate import CharacterErrorRate
from ember.metrics.nlp.perplexity import Perplexity
from ember.metrics.nlp.rouge import Rouge, RougeL, RougeN

__all__ = ["Bleu", "CharacterErrorRate", "Perplexity", "Rouge", "RougeL", "RougeN"]
