"""A small hand-labelled set of stories, and pairwise precision / recall of the grouper on it.

`STORIES` holds groups of texts: each group is one story (a complaint, its reposts, retellings
with a changed word, quotes that add a comment, copies with other hashtags or handles), and
texts of different groups are different stories, including complaints about the same brand
and the same problem written by different people ("livraison en retard" vs "colis jamais
arrivé"), which must not merge. Written for tocsin (French and English), not sampled from
any platform. ``bench/stories.py`` prints `evaluate` for several thresholds; the measured
numbers are in ``docs/enrichment.md``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import combinations
from typing import Any

from tocsin.enrich.stories import StoriesOptions, StoryIndex
from tocsin.mention import Author, Mention

__all__ = ["STORIES", "PairScore", "evaluate", "labelled_mentions"]

STORIES: tuple[tuple[str, ...], ...] = (
    # -- French retellings ----------------------------------------------------------------------
    (
        "@Colivraison mon colis est marqué livré depuis 5 jours mais je n'ai jamais rien reçu, "
        "le service client ne répond pas",
        "RT @marie_l: @Colivraison mon colis est marqué livré depuis 5 jours mais je n'ai jamais "
        "rien reçu, le service client ne répond pas",
        "Mon colis est marqué livré depuis 5 jours mais je n'ai jamais rien reçu, le service "
        "client ne répond pas 😡 #Colivraison",
        "Pareil ! « mon colis est marqué livré depuis 5 jours mais je n'ai jamais rien reçu, le "
        "service client ne répond pas »",
        "@Colivraison mon colis est marqué livré depuis 6 jours mais je n'ai jamais rien reçu, "
        "le service client ne répond pas",
    ),
    (
        "Train Paris-Lyon bloqué 3h en pleine voie sans clim ni eau, aucune annonce du personnel "
        "@SNCF c'est honteux",
        "train paris lyon bloqué 3h en pleine voie sans clim ni eau aucune annonce du personnel "
        "c'est honteux",
        "Train Paris-Lyon bloqué 3h en pleine voie sans clim ni eau, aucune annonce du personnel "
        "@SNCF c'est honteux https://t.co/a1b2c3",
        "Inadmissible. Train Paris-Lyon bloqué 3h en pleine voie sans clim ni eau, aucune "
        "annonce du personnel @SNCF c'est honteux",
        "Train Paris-Lyon bloqué 4h en pleine voie sans clim ni eau, aucune annonce du personnel "
        "@SNCF c'est honteux",
    ),
    (
        "Ma facture d'électricité a doublé sans explication et impossible de joindre un "
        "conseiller @EnergieBleue",
        "Ma facture d’électricité a doublé sans explication et impossible de joindre un "
        "conseiller !! @EnergieBleue #arnaque",
        "Chez moi aussi : ma facture d'électricité a doublé sans explication et impossible de "
        "joindre un conseiller",
        "MA FACTURE D'ÉLECTRICITÉ A DOUBLÉ SANS EXPLICATION ET IMPOSSIBLE DE JOINDRE UN CONSEILLER",
    ),
    (
        "Ils ont trouvé un morceau de verre dans un yaourt Lactéa acheté hier, la photo est "
        "dans le fil, ne donnez pas ça à vos enfants",
        "Un morceau de verre dans un yaourt Lactéa acheté hier, la photo est dans le fil, ne "
        "donnez pas ça à vos enfants",
        "⚠️ Ils ont trouvé un morceau de verre dans un yaourt Lactéa acheté hier ⚠️ la photo "
        "est dans le fil, ne donnez pas ça à vos enfants, partagez",
    ),
    (
        "La banque Solvia a bloqué ma carte en plein voyage à l'étranger, aucune alerte, et "
        "l'appli affiche une erreur depuis ce matin",
        "Solvia a bloqué ma carte en plein voyage à l'étranger, aucune alerte, et l'appli "
        "affiche une erreur depuis ce matin",
        "La banque Solvia a bloqué ma carte en plein voyage à l'étranger, aucune alerte, et "
        "l'application affiche une erreur depuis ce matin",
    ),
    (
        "Fuite de données chez Mutuelle Horizon : nos numéros de sécu et adresses sont en vente "
        "sur un forum, et pas un mail pour prévenir les adhérents",
        "Fuite de données chez Mutuelle Horizon : nos numéros de sécurité sociale et adresses "
        "sont en vente sur un forum, et pas un mail pour prévenir les adhérents",
        "Si vous êtes chez Mutuelle Horizon lisez ça. Fuite de données chez Mutuelle Horizon : "
        "nos numéros de sécu et adresses sont en vente sur un forum, et pas un mail pour "
        "prévenir les adhérents",
    ),
    (
        "Vol annulé à 2h du départ par AirZéphyr, aucun remboursement proposé, juste un bon "
        "d'achat valable 6 mois",
        "Vol annulé à 2h du départ par AirZephyr, aucun remboursement proposé, juste un bon "
        "d'achat valable 6 mois. Lamentable",
        "Vol annulé à 2 heures du départ par AirZéphyr, aucun remboursement proposé, juste un "
        "bon d'achat valable 6 mois",
    ),
    # -- English retellings ---------------------------------------------------------------------
    (
        "@QuickCart charged me twice for the same order and support keeps closing my ticket "
        "without answering",
        "RT @dan_k: @QuickCart charged me twice for the same order and support keeps closing my "
        "ticket without answering",
        "QuickCart charged me twice for the same order and support keeps closing my ticket "
        "without answering. Unreal.",
        "Same here!! QuickCart charged me twice for the same order and support keeps closing my "
        "ticket without answering",
        "@QuickCart charged me three times for the same order and support keeps closing my "
        "ticket without answering",
    ),
    (
        "The new Nimbus phone update bricked my device overnight, it is stuck on the logo and "
        "the store says it is not covered",
        "The new Nimbus phone update bricked my device overnight, it's stuck on the logo and "
        "the store says it's not covered",
        "PSA: The new Nimbus phone update bricked my device overnight, it is stuck on the logo "
        "and the store says it is not covered. Do NOT update",
        "the new #Nimbus phone update bricked my device overnight it is stuck on the logo and "
        "the store says it is not covered 😤😤",
    ),
    (
        "Found a dead insect in my FreshBowl salad from the Main Street store, photo attached, "
        "they offered a 5 dollar coupon",
        "Found a dead insect in my FreshBowl salad from the Main Street store, photo attached, "
        "they offered a $5 coupon",
        "Someone found a dead insect in their FreshBowl salad from the Main Street store, photo "
        "attached, and they offered a 5 dollar coupon",
    ),
    (
        "Our whole office lost internet for 2 days and Telvio says no engineer is available "
        "until next week, small businesses do not matter to them",
        "Our whole office lost internet for 3 days and Telvio says no engineer is available "
        "until next week, small businesses do not matter to them",
        '"Our whole office lost internet for 2 days and Telvio says no engineer is available '
        'until next week" small businesses do not matter to them. Shameful',
    ),
    (
        "Hotel Marisol cancelled my booking the night before and resold the room at twice the "
        "price, I have the screenshots",
        "Hotel Marisol cancelled my booking the night before and resold the room at double the "
        "price, I have the screenshots",
        "Wow. Hotel Marisol cancelled my booking the night before and resold the room at twice "
        "the price, I have the screenshots #travel",
    ),
    # -- hard paraphrases (retold in other words: text similarity cannot see them) ---------------
    (
        "Colivraison a perdu mon colis, trois semaines d'attente et personne ne répond",
        "J'attends mon colis depuis trois semaines, Colivraison l'a perdu et ne répond pas",
    ),
    (
        "QuickCart support is useless, my refund has been pending for a month",
        "A month later my QuickCart refund is still pending and support is useless",
    ),
    # -- short texts: only exact copies are one story -------------------------------------------
    ("Je suis déçu @Colivraison", "je suis DÉÇU @Colivraison !!", "@colivraison je suis déçu"),
    ("Worst service ever #QuickCart", "worst service EVER #QuickCart 😡"),
    ("je suis déçu @SNCF",),
    ("je suis déçu",),
    ("Worst service ever #TelvioFail",),
    ("@QuickCart worst service ever, my order is late again",),
    # -- different people, same brand, same problem: different stories ---------------------------
    ("@Colivraison livraison en retard, j'attends depuis lundi",),
    ("@Colivraison colis jamais arrivé, remboursez-moi",),
    ("@Colivraison mon colis est en retard de deux jours, le suivi ne bouge plus depuis mardi",),
    ("@Colivraison le livreur a laissé mon colis devant la porte sous la pluie, tout est mouillé",),
    (
        "@Colivraison mon colis est marqué livré mais le livreur l'a déposé chez un voisin que "
        "je ne connais pas",
    ),
    ("@Colivraison service client injoignable depuis trois jours, je veux un remboursement",),
    ("Très déçue par @SNCF, mon train a encore 40 minutes de retard ce matin",),
    ("@SNCF train supprimé sans prévenir, on attend sur le quai depuis une heure",),
    (
        "Train Paris-Lyon en retard de 20 minutes, annonce faite par le personnel, rien de "
        "grave @SNCF",
    ),
    ("@SNCF la clim ne marche pas dans la voiture 12 du TGV pour Marseille, il fait 35 degrés",),
    ("Ma facture d'électricité a augmenté de 15% ce mois-ci, quelqu'un sait pourquoi ?",),
    ("@EnergieBleue impossible de joindre un conseiller, 45 minutes d'attente au téléphone",),
    ("@QuickCart my order arrived late and the box was damaged",),
    ("@QuickCart charged me for shipping even though I have a premium account",),
    ("@QuickCart support closed my ticket again, third time this week",),
    ("@QuickCart my package never arrived and the tracking says delivered",),
    ("QuickCart sent me the wrong size and the return label does not work",),
    ("The Nimbus phone battery drains in 4 hours since the last update, anyone else seeing this?",),
    ("My Nimbus phone is stuck on the logo after a fall, the store says it is not covered",),
    ("Telvio internet down again in the whole neighbourhood tonight",),
    ("Hotel Marisol lost my booking and the front desk was rude about it",),
    ("Vol AirZéphyr retardé de 5h, on nous a donné un sandwich et un bon de 10 euros",),
    ("AirZéphyr a perdu ma valise, aucune nouvelle depuis 10 jours",),
    # -- hard negatives: much shared wording, yet another person's own complaint ----------------
    (
        "Bonjour @Colivraison, ma commande n° 48213 n'est toujours pas arrivée, merci de me "
        "répondre",
    ),
    (
        "Bonjour @Colivraison, ma commande n° 99120 est toujours bloquée en entrepôt, merci de me "
        "répondre",
    ),
    ("Mon colis est marqué livré mais je n'ai rien reçu, le livreur ne répond pas au téléphone",),
    (
        "@QuickCart charged me twice for my order last week and support refunded it in a day, "
        "thanks",
    ),
    (
        "Train Paris-Lyon bloqué 20 minutes à Dijon, la clim marche et le personnel a fait une "
        "annonce, merci @SNCF",
    ),
    (
        "My Nimbus phone update went fine overnight but now the store says my warranty is not "
        "covered anymore",
    ),
    ("Hotel Marisol cancelled my booking too but refunded me the same day, no complaints",),
    (
        "@Colivraison mon colis est marqué livré depuis 2 jours mais il était chez la gardienne, "
        "le service client ne répond pas mais bon",
    ),
    ("Mon colis est marqué livré depuis 5 jours, je l'ai enfin reçu ce matin, merci au livreur",),
    ("@QuickCart charged me twice for the same order but support fixed it within an hour",),
    ("@QuickCart cancelled my order and support keeps closing my ticket without a refund",),
    (
        "Train Paris-Lyon bloqué 3h en pleine voie hier soir, mais le personnel a distribué de "
        "l'eau, bravo @SNCF",
    ),
    (
        "The new Nimbus phone update made my device faster, it is no longer stuck on the logo at "
        "boot",
    ),
    ("Ma facture d'électricité a doublé cet hiver, j'ai changé de fournisseur et tout va bien",),
)


@dataclass(frozen=True, slots=True)
class PairScore:
    """Pairwise scores: of all pairs put in one story, how many are truly one (precision),
    and of all truly-one pairs, how many were put together (recall)."""

    threshold: float
    precision: float
    recall: float
    true_pairs: int
    predicted_pairs: int

    @property
    def f1(self) -> float:
        """Harmonic mean of precision and recall."""
        total = self.precision + self.recall
        return 2 * self.precision * self.recall / total if total else 0.0


def labelled_mentions(
    stories: Sequence[Sequence[str]] = STORIES,
) -> list[tuple[Mention, int]]:
    """Each text as a mention with its group number, interleaved as a stream would mix them."""
    start = datetime(2026, 3, 2, 8, tzinfo=UTC)
    out: list[tuple[Mention, int]] = []
    depth = max(len(group) for group in stories)
    for j in range(depth):
        for g, group in enumerate(stories):
            if j < len(group):
                n = len(out)
                mention = Mention(
                    id=f"x:{g}-{j}",
                    source="x",
                    url=f"https://x.com/user{n}/status/{n}",
                    text=group[j],
                    author=Author(handle=f"@user{n}"),
                    published_at=start + timedelta(minutes=n),
                    seen_at=start + timedelta(minutes=n),
                )
                out.append((mention, g))
    return out


def evaluate(threshold: float, **options: Any) -> PairScore:
    """Pairwise precision / recall of a fresh `StoryIndex` at `threshold` on `STORIES`.

    Other `StoriesOptions` fields may be given as keyword arguments.
    """
    labelled = labelled_mentions()
    index = StoryIndex(StoriesOptions(threshold=threshold, **options))
    predicted = index.assign([m for m, _ in labelled])
    true_pairs = predicted_pairs = correct = 0
    for a, b in combinations(range(len(labelled)), 2):
        same_true = labelled[a][1] == labelled[b][1]
        same_pred = predicted[a] == predicted[b]
        true_pairs += same_true
        predicted_pairs += same_pred
        correct += same_true and same_pred
    return PairScore(
        threshold=threshold,
        precision=correct / predicted_pairs if predicted_pairs else 1.0,
        recall=correct / true_pairs if true_pairs else 1.0,
        true_pairs=true_pairs,
        predicted_pairs=predicted_pairs,
    )
