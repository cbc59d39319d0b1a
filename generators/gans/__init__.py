"""medGAN and the EHR GAN family, plus adapters over the ``ctgan`` package.

Every class here follows :class:`generators.base.Generator`. The modules are imported lazily by the
registry (``generators.registry.BUILTIN``), so importing this package stays cheap: the ``ctgan``
package is only imported when ``ctgan`` or ``tvae`` is fitted, and ``opacus`` only by ``dpgan``.

==========  =====================================  ==========================================
name        class                                  paper
==========  =====================================  ==========================================
medgan      :class:`.medgan.MedGAN`                Choi et al., MLHC 2017
medwgan     :class:`.medgan.MedWGAN`               Baowaly et al., JAMIA 2019 (WGAN-GP)
medbgan     :class:`.medgan.MedBGAN`               Baowaly et al., JAMIA 2019 (boundary seeking)
emrwgan     :class:`.emrwgan.EMRWGAN`              Zhang et al., JAMIA 2020
corgan      :class:`.corgan.CorGAN`                Torfi & Fox, FLAIRS 2020
dpgan       :class:`.dpgan.DPGAN`                  Xie et al., 2018
ctgan       :class:`.sdv.CTGANGenerator`           Xu et al., NeurIPS 2019
tvae        :class:`.sdv.TVAEGenerator`            Xu et al., NeurIPS 2019
==========  =====================================  ==========================================

Shared pieces, one concern per module: ``_validate`` (option checks), ``_networks`` (autoencoder,
shortcut generator, critic, residual block), ``_losses`` (losses with the published reductions,
medGAN's L2), ``_loop`` (the adversarial loop, schedule and budget, batch-norm burn-in,
sampling), ``_records`` (decoding to records, never-generated count), ``_dp`` (DPGAN's accountant,
opacus optimiser and release-grade randomness).
"""
