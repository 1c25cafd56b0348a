import FerryCore
import GRDB

extension TargetState: DatabaseValueConvertible {}
extension ImageState: DatabaseValueConvertible {}
extension BlobState: DatabaseValueConvertible {}
extension InstallState: DatabaseValueConvertible {}
extension PullPolicy: DatabaseValueConvertible {}
