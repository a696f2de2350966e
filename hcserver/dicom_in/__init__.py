"""The DICOM front door: modalities print or send images to hcserver, which spools them as
jobs for its printers (off unless ``[dicom_in]`` is configured).

- :mod:`~hcserver.dicom_in.listener`: the one AE, its associations, each called AE title a route;
- :mod:`~hcserver.dicom_in.print_route`: a Print SCP whose print actions become jobs
  (:mod:`~hcserver.dicom_in.films`: film boxes and image boxes as job specs and spooled images);
- :mod:`~hcserver.dicom_in.store_route`: a Storage SCP whose images are laid out as jobs;
- :mod:`~hcserver.dicom_in.intake`: the spool, the queue and the spec checks they share;
- :mod:`~hcserver.dicom_in.progress`: Print Job N-EVENT-REPORTs to the modality;
- :mod:`~hcserver.dicom_in.sop`: SOP classes, transfer syntaxes and status codes.
"""
from hcserver.dicom_in.intake import Intake
from hcserver.dicom_in.listener import FrontDoor

__all__ = ["FrontDoor", "Intake"]
